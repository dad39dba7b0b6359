"""Lab guests only: keep the byte code of modules imported from zip files (Ansible's payloads).

Python caches no byte code for modules imported from a zip, and Python 3.11's zipimporter compiles
a module twice (once to name its file, once to run it). Every Ansible task on a guest thus compiled
ansible.module_utils and the collection's module_utils afresh: ~3 s of a 4 s task under qemu's TCG.
This path hook, loaded by a .pth file in the lab's guest root only, compiles each source once and
keeps the code in /var/cache/xfrm-lab-zipcache, keyed by the source's path in the zip and its hash.
The code that runs is the same; nothing of the collection depends on it.
"""
import hashlib
import importlib.util
import marshal
import os
import sys
import zipimport

CACHE = "/var/cache/xfrm-lab-zipcache"


class CachingZipImporter(zipimport.zipimporter):
    """A zipimporter whose get_code/get_filename compile a .py source once, then load it from CACHE."""

    def _code(self, fullname):
        tail = fullname.rpartition(".")[2]
        for suffix in (os.sep + "__init__.py", ".py"):
            inner = self.prefix + tail + suffix
            if inner not in self._files:  # pylint: disable=no-member
                continue
            modpath = self.archive + os.sep + inner
            source = self.get_data(modpath)
            key = hashlib.sha256(importlib.util.MAGIC_NUMBER + inner.encode() + b"\0" + source).hexdigest()
            path = os.path.join(CACHE, key)
            try:
                with open(path, "rb") as handle:
                    return marshal.loads(handle.read()), modpath
            except (OSError, ValueError, EOFError, TypeError):
                pass
            code = compile(importlib.util.decode_source(source), modpath, "exec", dont_inherit=True)
            try:
                os.makedirs(CACHE, mode=0o700, exist_ok=True)
                tmp = "%s.%d" % (path, os.getpid())
                with open(tmp, "wb") as handle:
                    marshal.dump(code, handle)
                os.replace(tmp, path)
            except OSError:
                pass
            return code, modpath
        return None

    def _memo(self, fullname):
        memo = self.__dict__.setdefault("_xfrm_lab_memo", {})
        if fullname not in memo:
            memo[fullname] = self._code(fullname)
        return memo[fullname]

    def get_code(self, fullname):
        found = self._memo(fullname)
        return found[0] if found else super().get_code(fullname)

    def get_filename(self, fullname):
        found = self._memo(fullname)
        return found[1] if found else super().get_filename(fullname)


if zipimport.zipimporter in sys.path_hooks:
    sys.path_hooks.insert(sys.path_hooks.index(zipimport.zipimporter), CachingZipImporter)
    sys.path_importer_cache.clear()
