"""What every part of troi shares: atomic output files, json files read with clear errors,
seeds of the global random generators."""

from .atomic_files import AtomicOutputs, atomic_file, atomic_folder, atomic_outputs, write_json_atomically
from .json_files import read_json
from .random_state import derive_seed, seed_global_rngs, seeded_global_rngs, training_seed

__all__ = [
    "AtomicOutputs",
    "atomic_file",
    "atomic_folder",
    "atomic_outputs",
    "derive_seed",
    "read_json",
    "seed_global_rngs",
    "seeded_global_rngs",
    "training_seed",
    "write_json_atomically",
]
