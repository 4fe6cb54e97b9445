"""Hooks, mirroring src/imgbased/hooks.py lines 31-134."""

import os
import subprocess


class Hooks(object):
    """Lines 31-120: hooks must be created with an argspec; connect checks
    the callback's argument count; callbacks are kept in a set, so their
    order is arbitrary; emit calls cb(context, *args) and lets exceptions
    through."""

    def __init__(self, context=None):
        self.context = context
        self.hooks = {}
        self._argspecs = {}

    def create(self, name, argspec=None):
        """Lines 76-84."""
        assert name not in self.hooks, "Hook already exists: %s" % name
        self.hooks[name] = set()
        self._argspecs[name] = argspec

    def connect(self, name, cb):
        """Lines 86-98."""
        argspec = self._argspecs.get(name, None)
        assert name in self.hooks, "Unknown hook: %s" % name
        assert (cb.__code__.co_argcount - 1) == len(argspec), \
            "Args for '%s' do not match signature: %s" % (name, argspec)
        self.hooks[name].add(cb)

    def emit(self, name, *args):
        """Lines 103-120: the wildcard hook (None) and the named one."""
        argspec = self._argspecs.get(name, None)
        assert name in self.hooks, "Unknown hook: %s" % name
        assert len(args) == len(argspec), "Number of arguments does not match"
        for cb in self.hooks.get(None, set()).union(self.hooks.get(name, set())):
            cb(self.context, *args)

    def add_filesystem_emitter(self, path):
        """Lines 122-134: creates the wildcard hook None with the trigger as
        its *argspec* and connects nothing, so hooks.d scripts never run."""
        def _trigger_fs(app, name, *args):
            for handler in os.listdir(path):
                subprocess.check_call([os.path.join(path, handler), name] + list(args))
        self.create(None, _trigger_fs)
