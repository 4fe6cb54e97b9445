"""The yum command line's plugin-command path, mirroring yum 3.4.3 cli.py
(YumBaseCli.registerCommand lines 108-112, parseCommands' lookup and doCheck
lines 320-352, doCommands lines 410-440) and yummain.py's handling of the
result (lines 139-170: 0 prints the messages at INFO_2 and exits 0, 1 prints
"Error: MSG" on the error logger and exits 1)."""

import logging

from yum import Errors, YumBase, logginglevels


class CliError(Errors.YumBaseError):
    """cli.py CliError."""


class YumBaseCli(YumBase):
    """cli.py class YumBaseCli (line 67 onwards)."""

    def __init__(self, conf):
        YumBase.__init__(self, conf)
        self.yum_cli_commands = {}

    def registerCommand(self, command):
        """Lines 108-112."""
        for name in command.getNames():
            if name in self.yum_cli_commands:
                raise Errors.ConfigError('Command "%s" already defined' % name)
            self.yum_cli_commands[name] = command

    def parseCommands(self, cmds):
        """Lines 320-352: basecmd, extcmds, unknown command is an error, then
        the command's doCheck()."""
        self.cmds = cmds
        self.basecmd = cmds[0]
        self.extcmds = cmds[1:]
        if self.basecmd not in self.yum_cli_commands:
            logging.getLogger("yum.cli").critical('No such command: %s. Please use '
                                                   '/usr/bin/yum --help' % self.basecmd)
            raise CliError
        self.yum_cli_commands[self.basecmd].doCheck(self, self.basecmd, self.extcmds)

    def doCommands(self):
        """Lines 410-440 (needTs honoured; no ts is needed here)."""
        cmd = self.yum_cli_commands[self.basecmd]
        if hasattr(cmd, 'needTs'):
            cmd.needTs(self, self.basecmd, self.extcmds)
        return cmd.doCommand(self, self.basecmd, self.extcmds)


def yummain_result(result, resultmsgs):
    """yummain.py lines 151-170."""
    if result == 0:
        for msg in resultmsgs:
            logging.getLogger("yum.verbose.cli").log(logginglevels.INFO_2, '%s', msg)
        return 0
    elif result == 1:
        for msg in resultmsgs:
            logging.getLogger("yum.cli").critical('Error: %s', msg)
        return 1
    return result
