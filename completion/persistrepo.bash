# bash completion for persistrepo(8)                       -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/persistrepo.
# Needs only bash 4: it does not rely on the bash-completion helpers.
# tests/test_packaging.py checks that it offers every option of the
# persistrepo argument parser.

_persistrepo()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd="" opts i

    case $prev in
        --store|--installroot|--image-root)
            compopt -o filenames
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return ;;
        --config|--image-manifest)
            compopt -o filenames
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return ;;
        --reason)
            mapfile -t COMPREPLY < <(compgen -W "user dependency" -- "$cur")
            return ;;
        --origin|--keep|--installonly-keep|--enablerepo|--package)
            return ;;
    esac

    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --store|--config) ((i++)) ;;
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            opts="--store --config --version -h --help"
        else
            opts="add remove list prune verify refresh status ingest replay"
            opts+=" dnf5-capture dnf5-persist"
        fi
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi

    opts="-h --help"
    case $cmd in
        add) opts+=" --reason --origin" ;;
        list) opts+=" --json" ;;
        prune) opts+=" --keep --installonly-keep" ;;
        status) opts+=" --json --image-manifest --image-root --installroot" ;;
        ingest) opts+=" --installroot" ;;
        replay) opts+=" --installroot --store --dry-run --json --skip-broken --enablerepo" ;;
        dnf5-persist) opts+=" --installroot --json --image-manifest --image-root --package" ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    elif [[ $cmd == add ]]; then
        compopt -o filenames
        mapfile -t COMPREPLY < <(compgen -d -- "$cur"; compgen -f -X '!*.rpm' -- "$cur")
    fi
} &&
complete -F _persistrepo persistrepo
