"""benchmark_cfg: one benchmark job's config (train_measured runs in benchmarks/*_gain.py)."""

from pathlib import Path

from troi.engine.measured_training import benchmark_cfg

CONFIG = Path(__file__).parents[2] / "configs" / "synthetic" / "tanet_tiny.yaml"


def test_datasets_seed_output_then_opts(tmp_path):
    cfg = benchmark_cfg(str(CONFIG), "a_train", "a_val", 3, str(tmp_path), ["SEED", "4", "SOLVER.MAX_ITER", "7"])
    assert cfg.DATASETS.TRAIN == ("a_train",) and cfg.DATASETS.TEST == ("a_val",)
    assert cfg.OUTPUT_DIR == str(tmp_path) and cfg.SOLVER.MAX_ITER == 7
    assert cfg.SEED == 4  # opts come last
    assert cfg.is_frozen()
