"""Every shim this project needs to run detectron2 on the stacks it supports, in one place.

Importing this module applies them (:func:`apply_all`): every part of troi that uses
detectron2 (``troi.config``, ``troi.solver``, ``troi.checkpoint``, ``troi.data``,
``troi.modeling``, ``troi.engine``, ``troi.evaluation``, ``troi.converters``) imports it
first, and scripts import it before their own detectron2 imports. ``troi.layers`` needs
torch only and does not.
Each shim is a no-op where it is not needed, so a normal detectron2 install (built
from source, with ``detectron2._C``) works unchanged. Each says which versions need it.
"""

import functools
import importlib.util
import logging
import socket
import sys
import types
from datetime import timedelta

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

__all__ = [
    "MissingCompiledOpError",
    "apply_all",
    "compiled_ops_available",
    "launch",
]


class MissingCompiledOpError(AttributeError):
    """A compiled detectron2 op was used, but ``detectron2._C`` was not built.

    An ``AttributeError`` so that ``hasattr(detectron2._C, name)`` stays truthful.
    """


_MISSING_OP_HELP = (
    "detectron2._C.{name} is not available: this detectron2 was installed without its "
    "compiled extension (e.g. from the pb1-detectron2 sdist by tools/install_detectron2.py), "
    "so compiled ops such as deformable convolution, rotated boxes/RoIAlign and the fast "
    "COCOeval are missing. Build detectron2 from source to use them: "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git'"
)

_STAND_IN_NOTE = "none: detectron2._C is a troi.compat stand-in, compiled ops are unavailable"


def _make_compiled_ops_stand_in():
    """A module standing in for ``detectron2._C``: importable, but any op raises.

    The three informational functions ``detectron2.utils.collect_env`` calls answer
    with a note instead of raising, so ``default_setup`` can print the environment.
    """
    module = types.ModuleType("detectron2._C", "Stand-in for the missing compiled ops (troi.compat).")
    module.get_compiler_version = lambda: _STAND_IN_NOTE
    module.get_cuda_version = lambda: _STAND_IN_NOTE
    module.has_cuda = lambda: False

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise MissingCompiledOpError(_MISSING_OP_HELP.format(name=name))

    module.__getattr__ = __getattr__
    module.TROI_STAND_IN = True
    return module


def compiled_ops_available() -> bool:
    """Whether the real ``detectron2._C`` is installed (False when the stand-in is used)."""
    import detectron2

    compiled = getattr(detectron2, "_C", None) or sys.modules.get("detectron2._C")
    if compiled is not None:
        return not getattr(compiled, "TROI_STAND_IN", False)
    return importlib.util.find_spec("detectron2._C") is not None


def install_compiled_ops_stand_in():
    """detectron2 installed without its C++ extension (any version; here v0.6 from the
    pb1-detectron2 sdist): ``detectron2.layers`` does ``from detectron2 import _C`` at import."""
    import detectron2

    if compiled_ops_available() or "detectron2._C" in sys.modules:
        return
    stand_in = _make_compiled_ops_stand_in()
    sys.modules["detectron2._C"] = stand_in
    detectron2._C = stand_in
    logger.debug("detectron2._C is missing: installed the troi.compat stand-in")


def alias_pillow_linear():
    """detectron2 <= 0.6 with Pillow >= 10: ``ExtentTransform`` defaults to ``Image.LINEAR``,
    which Pillow 10 removed (it was an alias of ``BILINEAR``)."""
    if not hasattr(Image, "LINEAR"):
        Image.LINEAR = Image.BILINEAR


def alias_numpy_builtin_types():
    """detectron2 <= 0.6 with numpy >= 1.24: ``np.int``/``np.float`` (e.g. the class
    histogram of ``build_detection_train_loader``) and ``np.bool`` (masks; back in numpy 2)
    were removed from numpy."""
    for name, builtin_type in (("bool", bool), ("int", int), ("float", float)):
        if not hasattr(np, name):
            setattr(np, name, builtin_type)


def make_ddp_cpu_aware():
    """detectron2 <= 0.6 (and later releases): ``create_ddp_model`` passes
    ``device_ids=[local_rank]``, which ``DistributedDataParallel`` rejects for a CPU model.
    CPU models get ``device_ids=None``; GPU models are untouched."""
    from detectron2.engine import defaults

    original = defaults.create_ddp_model
    if getattr(original, "troi_cpu_aware", False):
        return

    @functools.wraps(original)
    def create_ddp_model(model, *, fp16_compression=False, **kwargs):
        first_param = next(model.parameters(), None)
        if first_param is not None and first_param.device.type == "cpu":
            kwargs.setdefault("device_ids", None)
        return original(model, fp16_compression=fp16_compression, **kwargs)

    create_ddp_model.troi_cpu_aware = True
    defaults.create_ddp_model = create_ddp_model


def checkpoint_trainer_optimizer():
    """detectron2 <= 0.6: ``DefaultTrainer`` has no ``state_dict`` of its own, so its
    checkpoints (``trainer``) hold ``TrainerBase``'s, the iteration and the hooks' states
    (the LR scheduler's), without the optimizer's (SGD momentum), which only its inner
    ``SimpleTrainer`` holds: ``--resume`` restarted the momentum from zero. ``DefaultTrainer``
    gets the ``state_dict``/``load_state_dict`` of later detectron2 releases, which add the
    inner trainer's under ``_trainer``; a checkpoint without it loads with a warning."""
    from detectron2.engine import DefaultTrainer, TrainerBase

    if "state_dict" in vars(DefaultTrainer):
        return

    def state_dict(self):
        state = TrainerBase.state_dict(self)
        state["_trainer"] = self._trainer.state_dict()
        return state

    def load_state_dict(self, state):
        TrainerBase.load_state_dict(self, state)
        if "_trainer" in state:
            self._trainer.load_state_dict(state["_trainer"])
        else:
            logger.warning(
                "the checkpoint holds no optimizer state (written by DefaultTrainer of detectron2 <= 0.6 "
                "without troi.compat): the optimizer's momentum restarts from zero"
            )

    DefaultTrainer.state_dict = state_dict
    DefaultTrainer.load_state_dict = load_state_dict


_applied = False


def apply_all():
    """Apply every shim, once (later calls do nothing). Run when this module is imported."""
    global _applied
    if _applied:
        return
    _applied = True
    install_compiled_ops_stand_in()
    alias_pillow_linear()
    alias_numpy_builtin_types()
    make_ddp_cpu_aware()
    checkpoint_trainer_optimizer()


# ---------------------------------------------------------------------------------------
# detectron2 <= 0.6: ``engine.launch`` hard-codes the NCCL backend and asserts CUDA, so
# multi-process training on CPU is impossible with it. ``launch`` below keeps its
# signature, delegates to it when CUDA is available, and otherwise runs gloo workers.
# ---------------------------------------------------------------------------------------
DEFAULT_TIMEOUT = timedelta(minutes=30)


def _free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _set_local_process_group(num_workers_per_machine, machine_rank, world_size):
    import torch.distributed as dist
    from detectron2.utils import comm

    if hasattr(comm, "create_local_process_group"):  # detectron2 > 0.6
        comm.create_local_process_group(num_workers_per_machine)
        return
    for machine in range(world_size // num_workers_per_machine):
        ranks = list(range(machine * num_workers_per_machine, (machine + 1) * num_workers_per_machine))
        group = dist.new_group(ranks)  # every rank must create every group
        if machine == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group


def _cpu_worker(local_rank, main_func, world_size, num_workers_per_machine, machine_rank, dist_url, args, timeout):
    import torch.distributed as dist
    from detectron2.utils import comm

    apply_all()  # spawned processes start a fresh interpreter
    global_rank = machine_rank * num_workers_per_machine + local_rank
    dist.init_process_group(
        backend="gloo", init_method=dist_url, world_size=world_size, rank=global_rank, timeout=timeout
    )
    _set_local_process_group(num_workers_per_machine, machine_rank, world_size)
    comm.synchronize()
    try:
        main_func(*args)
    finally:
        # gloo's threads must stop before the interpreter exits, or the C++ runtime aborts.
        dist.destroy_process_group()


def launch(
    main_func, num_gpus_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=(), timeout=DEFAULT_TIMEOUT
):
    """``detectron2.engine.launch`` that also works without CUDA.

    With CUDA, this is detectron2's launch (NCCL). Without, ``num_gpus_per_machine``
    counts CPU worker processes, which join a gloo process group.
    """
    import torch

    if torch.cuda.is_available():
        from detectron2.engine import launch as detectron2_launch

        return detectron2_launch(
            main_func, num_gpus_per_machine, num_machines, machine_rank, dist_url, args=args, timeout=timeout
        )
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1:
        return main_func(*args)
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("dist_url='auto' only works on one machine; give tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_free_local_port()}"
    torch.multiprocessing.spawn(
        _cpu_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
    )


apply_all()
