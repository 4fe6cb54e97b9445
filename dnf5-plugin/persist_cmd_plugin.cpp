// persist_cmd_plugin.cpp
// `dnf5 persist list|add|remove|status|verify`: the dnf5 command plugin of
// persistrepo (docs/dnf5.md, dnf-persist(8)).
//
// Copyright (C) 2024 The persistrepo authors
//
// This program is free software; you can redistribute it and/or modify it
// under the terms of the GNU General Public License as published by the Free
// Software Foundation; either version 2 of the License, or (at your option)
// any later version.
//
// The plugin is thin: it registers the options of `dnf persist` from
// persist_options.hpp, which build.sh generates from persistrepo's one
// definition of them (persistrepo/front/subcommands.py), and hands every word and
// option on; for add it finds and downloads with libdnf5 the exact installed
// builds the specs match. Checking the options, the store work, the output
// and the exit code are those of `persistrepo dnf5-persist`
// (persistrepo/dnf5/persist.py), which it runs.

#include "persist_options.hpp"

#include <dnf5/context.hpp>
#include <dnf5/iplugin.hpp>
#include <libdnf5-cli/argument_parser.hpp>
#include <libdnf5-cli/exception.hpp>
#include <libdnf5/base/goal_elements.hpp>
#include <libdnf5/conf/option_bool.hpp>
#include <libdnf5/conf/option_string.hpp>
#include <libdnf5/repo/package_downloader.hpp>
#include <libdnf5/rpm/package_query.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#ifndef PERSISTREPO_COMMAND
#define PERSISTREPO_COMMAND "/usr/bin/persistrepo"
#endif

namespace {

using namespace dnf5;
using libdnf5::cli::ArgumentParser;

constexpr const char * PLUGIN_NAME{"persist"};
constexpr PluginVersion PLUGIN_VERSION{.major = 0, .minor = 1, .micro = 0};
constexpr PluginAPIVersion REQUIRED_PLUGIN_API_VERSION{.major = 2, .minor = 0};

constexpr const char * attrs[]{"author.name", "description", nullptr};
constexpr const char * attrs_value[]{"The persistrepo authors",
                                     "persist command: the packages kept across image upgrades."};

/// Reported like dnf reports errors: "Error: ..." and exit code 1.
[[noreturn]] void fail(const std::string & message) {
    std::cerr << "Error: " << message << std::endl;
    throw libdnf5::cli::SilentCommandExitError(1);
}

class PersistCommand : public Command {
public:
    explicit PersistCommand(Context & context) : Command(context, "persist") {}

    void set_parent_command() override {
        get_session().get_argument_parser().get_root_command()->register_command(
            get_argument_parser_command());
    }

    void set_argument_parser() override;
    void configure() override;
    void run() override;

private:
    std::vector<std::string> words() const;
    std::vector<std::string> add_packages(const std::vector<std::string> & specs);

    std::vector<std::unique_ptr<libdnf5::Option>> * words_option{nullptr};
    // The options given, in order, as `persistrepo dnf5-persist` takes them.
    std::vector<std::string> given_options;
};

void PersistCommand::set_argument_parser() {
    auto & parser = get_context().get_argument_parser();
    auto & cmd = *get_argument_parser_command();
    cmd.set_description("Manage the packages kept across image upgrades (persistrepo)");

    words_option = parser.add_new_values();
    auto * words_arg = parser.add_new_positional_arg(
        "subcommand_and_specs",
        ArgumentParser::PositionalArg::UNLIMITED,
        parser.add_init_value(std::make_unique<libdnf5::OptionString>(nullptr)),
        words_option);
    words_arg->set_description("the subcommand (default: list) and its package specs; see dnf-persist(8)");
    // Bash completion (dnf5's own script asks dnf5 --complete): the subcommands.
    words_arg->set_complete_hook_func([](const char * arg) {
        std::vector<std::string> out;
        for (const char * sub : PERSIST_SUBCOMMANDS) {
            if (std::strncmp(sub, arg, std::strlen(arg)) == 0) {
                out.emplace_back(sub);
            }
        }
        return out;
    });
    cmd.register_positional_arg(words_arg);

    for (const auto & option : PERSIST_OPTIONS) {
        auto * arg = parser.add_new_named_arg(option.name);
        arg->set_long_name(option.name);
        arg->set_description(option.help);
        arg->set_has_value(option.has_value);
        if (option.has_value) {
            arg->set_arg_value_help(option.metavar);
        }
        arg->set_parse_hook_func([this, &option](ArgumentParser::NamedArg *, const char *, const char * value) {
            given_options.push_back(std::string("--") + option.name);
            if (option.has_value) {
                given_options.push_back(value);
            }
            return true;
        });
        cmd.register_named_arg(arg);
    }
}

std::vector<std::string> PersistCommand::words() const {
    std::vector<std::string> out;
    for (const auto & option : *words_option) {
        out.push_back(dynamic_cast<libdnf5::OptionString *>(option.get())->get_value());
    }
    return out;
}

void PersistCommand::configure() {
    auto & context = get_context();
    auto w = words();
    // Only add looks packages up; list, status, verify and remove read the
    // store and the rpmdb themselves.
    if (w.size() > 1 && w[0] == "add") {
        context.set_load_system_repo(true);
        context.set_load_available_repos(Context::LoadAvailableRepos::ENABLED);
    } else {
        context.set_load_system_repo(false);
        context.set_load_available_repos(Context::LoadAvailableRepos::NONE);
    }
}

/// The exact installed builds the specs match, found in the enabled repos
/// (or the cache) and downloaded; returns "--package FILE REPO" arguments,
/// and "--unavailable NEVRA" for a build no repo has (fine if the store
/// holds it already: dnf5-persist decides).
std::vector<std::string> PersistCommand::add_packages(const std::vector<std::string> & specs) {
    auto & base = get_context().get_base();
    libdnf5::ResolveSpecSettings settings;
    settings.set_with_provides(false);
    settings.set_with_filenames(false);
    settings.set_with_binaries(false);

    std::vector<libdnf5::rpm::Package> chosen;
    std::string unmatched;
    for (const auto & spec : specs) {
        libdnf5::rpm::PackageQuery query(base);
        query.filter_installed();
        query.resolve_pkg_spec(spec, settings, false);
        if (query.empty()) {
            unmatched += (unmatched.empty() ? "'" : ", '") + spec + "'";
        }
        for (const auto & pkg : query) {
            chosen.push_back(pkg);
        }
    }
    if (!unmatched.empty()) {
        fail("no installed package matches " + unmatched + "; nothing added");
    }

    std::vector<libdnf5::rpm::Package> builds;
    std::vector<std::string> args;
    for (const auto & inst : chosen) {
        libdnf5::rpm::PackageQuery query(base);
        query.filter_available();
        query.filter_name(inst.get_name());
        query.filter_epoch(inst.get_epoch());
        query.filter_version(inst.get_version());
        query.filter_release(inst.get_release());
        query.filter_arch(inst.get_arch());
        query.filter_repo_id("@commandline", libdnf5::sack::QueryCmp::NEQ);
        std::vector<libdnf5::rpm::Package> found(query.begin(), query.end());
        if (found.empty()) {
            args.insert(args.end(), {"--unavailable", inst.get_nevra()});
            continue;
        }
        auto from_repo = inst.get_from_repo_id();
        std::sort(found.begin(), found.end(), [&from_repo](const auto & a, const auto & b) {
            return std::make_pair(a.get_repo_id() != from_repo, a.get_repo_id()) <
                   std::make_pair(b.get_repo_id() != from_repo, b.get_repo_id());
        });
        builds.push_back(found.front());
    }
    // The downloader checks each file against its repository's checksum.
    libdnf5::repo::PackageDownloader downloader(base);
    downloader.force_keep_packages(true);
    bool any = false;
    for (const auto & pkg : builds) {
        if (!pkg.is_available_locally()) {
            downloader.add(pkg);
            any = true;
        }
    }
    if (any) {
        downloader.download();
    }
    for (const auto & pkg : builds) {
        args.insert(args.end(), {"--package", pkg.get_package_path(), pkg.get_repo_id()});
    }
    return args;
}

void PersistCommand::run() {
    auto & base = get_context().get_base();
    auto w = words();
    std::vector<std::string> argv{PERSISTREPO_COMMAND, "dnf5-persist", "--installroot",
                                  base.get_config().get_installroot_option().get_value()};
    argv.insert(argv.end(), given_options.begin(), given_options.end());
    if (w.size() > 1 && w[0] == "add") {
        auto packages = add_packages(std::vector<std::string>(w.begin() + 1, w.end()));
        argv.insert(argv.end(), packages.begin(), packages.end());
        // Where add finds the module streams of the packages (docs/dnf5.md).
        argv.insert(argv.end(), {"--cachedir", base.get_config().get_cachedir_option().get_value(),
                                 "--state-dir",
                                 base.get_config().get_system_state_dir_option().get_value()});
    }
    argv.push_back("--");
    argv.insert(argv.end(), w.begin(), w.end());

    std::vector<char *> cargv;
    for (auto & arg : argv) {
        cargv.push_back(arg.data());
    }
    cargv.push_back(nullptr);
    std::cout.flush();
    std::cerr.flush();
    pid_t pid = fork();
    if (pid == -1) {
        fail(std::string("cannot fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        execv(cargv[0], cargv.data());
        std::cerr << "Error: cannot run " << cargv[0] << ": " << std::strerror(errno) << std::endl;
        _exit(1);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (code != 0) {
        throw libdnf5::cli::SilentCommandExitError(code);
    }
}

class PersistCmdPlugin : public IPlugin {
public:
    using IPlugin::IPlugin;

    PluginAPIVersion get_api_version() const noexcept override { return REQUIRED_PLUGIN_API_VERSION; }
    const char * get_name() const noexcept override { return PLUGIN_NAME; }
    PluginVersion get_version() const noexcept override { return PLUGIN_VERSION; }
    const char * const * get_attributes() const noexcept override { return attrs; }

    const char * get_attribute(const char * attribute) const noexcept override {
        for (size_t i = 0; attrs[i]; ++i) {
            if (std::strcmp(attribute, attrs[i]) == 0) {
                return attrs_value[i];
            }
        }
        return nullptr;
    }

    std::vector<std::unique_ptr<Command>> create_commands() override {
        std::vector<std::unique_ptr<Command>> commands;
        commands.push_back(std::make_unique<PersistCommand>(get_context()));
        return commands;
    }

    void finish() noexcept override {}
};

std::exception_ptr last_exception;

}  // namespace

PluginAPIVersion dnf5_plugin_get_api_version(void) {
    return REQUIRED_PLUGIN_API_VERSION;
}

const char * dnf5_plugin_get_name(void) {
    return PLUGIN_NAME;
}

PluginVersion dnf5_plugin_get_version(void) {
    return PLUGIN_VERSION;
}

IPlugin * dnf5_plugin_new_instance([[maybe_unused]] ApplicationVersion application_version, Context & context) try {
    return new PersistCmdPlugin(context);
} catch (...) {
    last_exception = std::current_exception();
    return nullptr;
}

void dnf5_plugin_delete_instance(IPlugin * plugin_object) {
    delete plugin_object;
}

std::exception_ptr * dnf5_plugin_get_last_exception(void) {
    return &last_exception;
}
