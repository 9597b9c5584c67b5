"""The 30 ImageNet VID classes (ILSVRC2015 VID), shared by the VID and DET-30 datasets.

Category ids in the converted jsons (``datasets/prepare_imagenet_vid.py``) are
``1..30`` in the order of :data:`IMAGENET_VID_CATEGORIES`, which is the order of
mmtracking and FGFA (class names sorted alphabetically).
"""

__all__ = ["IMAGENET_VID_CATEGORIES", "imagenet_vid_metadata"]

# (name, WordNet id) of each class; the XML annotations name objects by WordNet id.
IMAGENET_VID_CATEGORIES = (
    ("airplane", "n02691156"),
    ("antelope", "n02419796"),
    ("bear", "n02131653"),
    ("bicycle", "n02834778"),
    ("bird", "n01503061"),
    ("bus", "n02924116"),
    ("car", "n02958343"),
    ("cattle", "n02402425"),
    ("dog", "n02084071"),
    ("domestic_cat", "n02121808"),
    ("elephant", "n02503517"),
    ("fox", "n02118333"),
    ("giant_panda", "n02510455"),
    ("hamster", "n02342885"),
    ("horse", "n02374451"),
    ("lion", "n02129165"),
    ("lizard", "n01674464"),
    ("monkey", "n02484322"),
    ("motorcycle", "n03790512"),
    ("rabbit", "n02324045"),
    ("red_panda", "n02509815"),
    ("sheep", "n02411705"),
    ("snake", "n01726692"),
    ("squirrel", "n02355227"),
    ("tiger", "n02129604"),
    ("train", "n04468005"),
    ("turtle", "n01662784"),
    ("watercraft", "n04530566"),
    ("whale", "n02062744"),
    ("zebra", "n02391049"),
)


def imagenet_vid_metadata() -> dict:
    """``thing_classes`` and ``thing_dataset_id_to_contiguous_id`` (json ids ``1..30``)."""
    return {
        "thing_classes": [name for name, _ in IMAGENET_VID_CATEGORIES],
        "thing_dataset_id_to_contiguous_id": {i + 1: i for i in range(len(IMAGENET_VID_CATEGORIES))},
    }
