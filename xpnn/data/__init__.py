"""Host-side data, one loader per source, each a validated ``Dataset``; imports files, errors."""
from .csv import load_csv
from .dataset import Dataset
from .digits import load_digits
from .download import locate_dataset
from .idx import load_idx, load_idx_dir, read_idx
from .npz import load_npz
from .sources import DataSplits, load_source
from .split import stratified_split

__all__ = [
    "DataSplits",
    "Dataset",
    "load_csv",
    "load_digits",
    "load_idx",
    "load_idx_dir",
    "load_npz",
    "load_source",
    "locate_dataset",
    "read_idx",
    "stratified_split",
]
