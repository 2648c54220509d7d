"""Make torchvision's pure-Python parts (models, transforms) importable beside a torch its C extension cannot load
into, e.g. a CUDA build of torchvision next to the CPU build of torch.

torchvision's ``_meta_registrations.py`` (0.28) registers fake kernels with
``torch.library.register_fake("torchvision::nms")`` and ``("torchvision::qnms")`` unconditionally, while every other
registration there is guarded by ``torchvision.extension._has_ops()``. Without the extension the two operators do
not exist and ``import torchvision`` fails with "RuntimeError: operator torchvision::nms does not exist". Declaring
the two schemas first (the ones of torchvision/csrc/ops/nms.cpp and quantized/cpu/qnms_kernel.cpp) lets the
registrations, and the import, succeed; the operators keep no kernel, and torchvision.ops.nms still raises
torchvision's own "Couldn't load custom C++ ops" error (extension._assert_has_ops) when called.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

import torch

SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
# torch.library.Library removes its definitions when it is garbage-collected: kept here for the process's life
_LIBRARY: list[torch.library.Library] = []


def _extension_path() -> str | None:
    """Where torchvision's ``_C`` extension lies (found as torchvision's extension._get_extension_path finds it,
    without importing torchvision), or None when torchvision or its extension is not installed."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib_dir = list(spec.submodule_search_locations)[0]
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    found = importlib.machinery.FileFinder(lib_dir, loader).find_spec("_C")
    return found.origin if found is not None and found.origin and os.path.exists(found.origin) else None


def _extension_loads(path: str) -> bool:
    try:
        torch.ops.load_library(path)  # what ``import torchvision`` does first (torchvision/extension.py)
    except (ImportError, OSError):
        return False
    return True


def declare_missing_ops() -> bool:
    """Where torchvision is installed but not imported yet and its C extension cannot load, declare
    torchvision::nms and ::qnms (schemas only, FRAGMENT: beside any other definitions of the namespace). Returns
    whether it declared anything. Cheap (no torchvision import): what the root conftest.py runs in every test
    process."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return False
    path = _extension_path()
    if path is not None and _extension_loads(path):
        return False
    missing = [name for name in SCHEMAS if not hasattr(torch.ops.torchvision, name)]
    if not missing:
        return False
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name in missing:
        lib.define(SCHEMAS[name])
    _LIBRARY.append(lib)
    return True


def torchvision_importable() -> bool:
    """Whether ``import torchvision`` works, after ``declare_missing_ops``: False when torchvision is not installed
    or fails to import for another reason."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    declare_missing_ops()
    try:
        import torchvision  # noqa: F401
    except Exception:  # any other incompatibility: torchvision is then simply not usable here
        return False
    return True


__all__ = ["SCHEMAS", "declare_missing_ops", "torchvision_importable"]
