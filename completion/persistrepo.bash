# bash completion for persistrepo(8)                       -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/persistrepo.
# Needs only bash 4: it does not rely on the bash-completion helpers.
# tests/test_packaging.py checks that it offers every option of the
# persistrepo argument parser.

# The value given to option $1 on the command line so far.
_persistrepo_value()
{
    local i
    for ((i = 1; i < COMP_CWORD - 1; i++)); do
        [[ ${COMP_WORDS[i]} == "$1" ]] && printf '%s\n' "${COMP_WORDS[i+1]}"
    done
}

# Names of the stored packages (with --removed: of those restore can put back).
_persistrepo_names()
{
    local store
    store=$(_persistrepo_value --store)
    persistrepo ${store:+--store "$store"} list "$@" 2>/dev/null |
        awk 'NR > 1 { print $1 }' | sed -E 's/-[^-]+-[^-]+$//'
}

_persistrepo()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd="" opts i

    case $prev in
        --store|--installroot|--image-root|--from|--cachedir|--state-dir)
            compopt -o filenames
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return ;;
        --config|--image-manifest|--key|--imgbased-conf)
            compopt -o filenames
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return ;;
        --reason)
            mapfile -t COMPREPLY < <(compgen -W "user dependency" -- "$cur")
            return ;;
        --enablerepo)
            local root
            root=$(_persistrepo_value --installroot)
            mapfile -t COMPREPLY < <(compgen -W "$(sed -n 's/^\[\([^]]*\)\][[:space:]]*$/\1/p' \
                "${root:-}"/etc/yum.repos.d/*.repo 2>/dev/null | grep -vx main)" -- "$cur")
            return ;;
        --origin|--keep|--installonly-keep|--package|--exclude|--server|--repository)
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
            opts="add remove restore list prune verify refresh status ingest replay"
            opts+=" export import-imgbased imgbased-update dnf5-capture dnf5-persist push pull"
        fi
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi

    # --store and --config go after the command too
    opts="-h --help --store --config"
    case $cmd in
        add) opts+=" --reason --origin --key" ;;
        remove) opts+=" --dry-run -y --assumeyes" ;;
        list) opts+=" --json --removed" ;;
        prune) opts+=" --keep --installonly-keep --dry-run -y --assumeyes" ;;
        verify) opts+=" --json" ;;
        refresh) opts+=" --adopt" ;;
        status) opts+=" --json --image-manifest --image-root --installroot" ;;
        ingest) opts+=" --installroot" ;;
        replay) opts+=" --installroot --dry-run --json --skip-broken --enablerepo"
                opts+=" --exclude --allow-running-root" ;;
        export) opts+=" --format --from --image-root --enablerepo --exclude --baseurl" ;;
        import-imgbased) opts+=" --from --imgbased-conf --installroot --no-import --if-present" ;;
        imgbased-update) opts+=" --before --layer --finish" ;;
        dnf5-persist) opts="-h --help --store --installroot --json --dry-run --removed"
                      opts+=" --image-manifest --image-root --package --unavailable --cachedir"
                      opts+=" --state-dir" ;;
        push|pull) opts+=" --server --repository --dry-run" ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
    elif [[ $cmd == add ]]; then
        compopt -o filenames
        mapfile -t COMPREPLY < <(compgen -d -- "$cur"; compgen -f -X '!*.rpm' -- "$cur")
    elif [[ $cmd == remove || $cmd == list ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_persistrepo_names)" -- "$cur")
    elif [[ $cmd == restore ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_persistrepo_names --removed)" -- "$cur")
    fi
} &&
complete -F _persistrepo persistrepo
