import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from troi import compat

needs_stand_in = pytest.mark.skipif(compat.compiled_ops_available(), reason="detectron2._C is compiled here")


def run_in_fresh_interpreter(code: str) -> str:
    """Run ``code`` with ``python -c``; assert it succeeds; its stripped stdout."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_troi_compat_first_makes_detectron2_importable():
    """In a fresh interpreter: import troi.compat, then the detectron2 packages v0.6 can't import alone."""
    code = (
        "import troi.compat, detectron2.layers, detectron2.data, detectron2.evaluation, detectron2.engine, "
        "detectron2.modeling, detectron2.utils.visualizer; print('ok')"
    )
    assert run_in_fresh_interpreter(code).endswith("ok")


def test_the_project_api_applies_the_shims_itself():
    """``from troi import add_troi_config`` (as a detectron2 project's users write it) is enough."""
    code = (
        "from troi import add_troi_config; import detectron2.layers; from detectron2.modeling import "
        "META_ARCH_REGISTRY; assert 'VideoRCNN' in META_ARCH_REGISTRY; print('ok')"
    )
    assert run_in_fresh_interpreter(code).endswith("ok")


def test_operators_import_without_detectron2():
    """``troi.layers`` needs torch only: it imports, and runs, where detectron2 cannot be imported."""
    code = (
        "import sys\n"
        "class NoDetectron2:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'detectron2':\n"
        "            raise ImportError('detectron2 is not installed (blocked by the test)')\n"
        "sys.meta_path.insert(0, NoDetectron2())\n"
        "import torch, troi.layers\n"
        "from troi import TemporalRoIAlign\n"
        "assert not any(m.split('.')[0] == 'detectron2' for m in sys.modules), 'detectron2 was imported'\n"
        "assert 'troi.compat' not in sys.modules\n"
        "out = troi.layers.SelsaAggregator(8, 2)(torch.rand(3, 8), torch.rand(5, 8))\n"
        "print(tuple(out.shape))\n"
    )
    assert run_in_fresh_interpreter(code) == "(3, 8)"


@needs_stand_in
def test_missing_compiled_op_raises_an_error_naming_it():
    import detectron2._C as compiled

    with pytest.raises(compat.MissingCompiledOpError, match=r"detectron2\._C\.deform_conv_forward is not available"):
        compiled.deform_conv_forward
    with pytest.raises(compat.MissingCompiledOpError, match="Build detectron2 from source"):
        compiled.box_iou_rotated
    assert not hasattr(compiled, "COCOevalAccumulate")


@needs_stand_in
def test_compiled_ops_fail_clearly_through_detectron2():
    from detectron2.layers.rotated_boxes import pairwise_iou_rotated

    with pytest.raises(compat.MissingCompiledOpError, match="box_iou_rotated"):
        pairwise_iou_rotated(torch.zeros(1, 5), torch.zeros(1, 5))


@needs_stand_in
def test_environment_report_works_with_the_stand_in():
    from detectron2.utils.collect_env import collect_env_info

    assert "troi.compat stand-in" in collect_env_info()


def test_pillow_linear_alias_lets_extent_transform_run():
    from detectron2.data.transforms import ExtentTransform

    assert Image.LINEAR == Image.BILINEAR
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert ExtentTransform((0, 0, 4, 4), (2, 2)).apply_image(image).shape == (2, 2, 3)


def test_numpy_aliases_let_the_class_histogram_run():
    from detectron2.data.build import print_instances_class_histogram

    assert np.int is int and np.float is float
    dicts = [{"annotations": [{"category_id": 0, "iscrowd": 0}, {"category_id": 1, "iscrowd": 0}]}]
    print_instances_class_histogram(dicts, ["a", "b"])


def test_apply_all_is_idempotent():
    from detectron2.engine import defaults

    wrapped = defaults.create_ddp_model
    compat.apply_all()
    assert defaults.create_ddp_model is wrapped and wrapped.troi_cpu_aware


def test_trainer_checkpoints_hold_the_optimizer_state():
    """detectron2 0.6's DefaultTrainer saved no optimizer state: --resume lost the momentum."""
    from detectron2.engine import DefaultTrainer, SimpleTrainer

    def trainer(model):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        made = DefaultTrainer.__new__(DefaultTrainer)  # the state parts alone
        made._hooks, made.iter, made._trainer = [], 7, SimpleTrainer(model, [], optimizer)
        return made

    model = torch.nn.Linear(2, 1)
    saved = trainer(model)
    model(torch.ones(1, 2)).sum().backward()
    saved.optimizer.step()
    state = saved.state_dict()
    assert state["iteration"] == 7 and state["_trainer"]["optimizer"]["state"][0]["momentum_buffer"].abs().sum() > 0
    loaded = trainer(torch.nn.Linear(2, 1))
    loaded.load_state_dict(state)
    assert loaded.iter == 7
    assert torch.equal(
        loaded.optimizer.state_dict()["state"][0]["momentum_buffer"],
        saved.optimizer.state_dict()["state"][0]["momentum_buffer"],
    )


def _report_distributed_state(output_dir):
    """Runs in each launched worker: a CPU DDP step through detectron2's create_ddp_model."""
    import torch.distributed as dist
    from detectron2.engine.defaults import create_ddp_model
    from detectron2.utils import comm

    model = create_ddp_model(torch.nn.Linear(2, 1, bias=False))
    torch.nn.init.constant_(model.module.weight, 1.0)
    model(torch.full((1, 2), float(comm.get_rank() + 1))).sum().backward()  # grads 1 and 2, averaged
    state = {
        "rank": comm.get_rank(),
        "world_size": comm.get_world_size(),
        "local_rank": comm.get_local_rank(),
        "backend": dist.get_backend(),
        "grad": model.module.weight.grad.tolist(),
    }
    with open(f"{output_dir}/rank{comm.get_rank()}.json", "w") as f:
        json.dump(state, f)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path of launch is under test")
def test_launch_runs_gloo_workers_on_cpu(tmp_path):
    compat.launch(_report_distributed_state, 2, dist_url="auto", args=(str(tmp_path),))
    states = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [s["rank"] for s in states] == [0, 1]
    assert all(s["world_size"] == 2 and s["backend"] == "gloo" for s in states)
    assert [s["local_rank"] for s in states] == [0, 1]
    assert all(s["grad"] == [[1.5, 1.5]] for s in states)


def test_launch_with_one_worker_calls_directly():
    calls = []
    compat.launch(calls.append, 1, args=("called",))
    assert calls == ["called"]
