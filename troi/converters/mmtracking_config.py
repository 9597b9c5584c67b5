"""An mmtracking 0.14 config (as a dict, :mod:`.mmcv_config`) -> the detectron2 config of
this project that builds the same model and runs it as the reference's test does.

Supported: mmtracking's ``SELSA`` video detectors (ResNet/ResNeXt-DC5, ChannelMapper,
``SelsaRoIHead`` with or without ``TemporalRoIAlign``) and ``MaskTrackRCNN`` (ResNet/ResNeXt
FPN Mask R-CNN with ``RoITrackHead``). Anything outside that raises
:class:`MMTrackingConfigError` naming the mmtracking field.

The inference-relevant fields map exactly; BatchNorm becomes ``FrozenBN`` (the reference
freezes its statistics, ``norm_eval``), exact at inference. Training fields (samplers,
losses, optimizer) are carried over where detectron2 has them; the schedule (epochs) is
not, since iterations per epoch depend on the dataset.
"""

from typing import Any, Dict, List, Optional, Sequence

from detectron2.config import CfgNode, get_cfg

from ..config import add_troi_config

__all__ = ["MMTrackingConfigError", "detectron2_config", "box_coder_stds"]


class MMTrackingConfigError(ValueError):
    """An mmtracking config field this project cannot reproduce."""


def _get(config: dict, path: str, default: Any = KeyError) -> Any:
    """``config["a"]["b"]`` for ``path`` "a.b", or ``default``; a missing field without a
    default raises :class:`MMTrackingConfigError` naming it."""
    value = config
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            if default is KeyError:
                raise MMTrackingConfigError(f"the mmtracking config has no field '{path}'")
            return default
        value = value[part]
    return value


def _expect(condition: bool, path: str, value: Any, wanted: str):
    if not condition:
        raise MMTrackingConfigError(f"mmtracking field '{path}' = {value!r} is not supported: {wanted}")


def box_coder_stds(head: dict, path: str) -> List[float]:
    """The ``target_stds`` of a head's DeltaXYWHBBoxCoder (``head`` at ``path``), checked."""
    coder = _get(head, "bbox_coder", {})
    _expect(
        coder.get("type", "DeltaXYWHBBoxCoder") == "DeltaXYWHBBoxCoder",
        f"{path}.bbox_coder.type",
        coder.get("type"),
        "needs DeltaXYWHBBoxCoder",
    )
    means = list(coder.get("target_means", [0.0] * 4))
    _expect(all(mean == 0 for mean in means), f"{path}.bbox_coder.target_means", means, "needs zero means")
    return [float(std) for std in coder.get("target_stds", [1.0] * 4)]


def detectron2_config(mm: Dict[str, Any], weights: str = "") -> CfgNode:
    """The detectron2 config (``get_cfg`` + ``add_troi_config``) of an mmtracking config.

    Args:
        mm: the whole mmtracking config (``model``, ``data``, ``optimizer``, ...).
        weights: ``MODEL.WEIGHTS`` of the result (the converted checkpoint).

    Raises:
        MMTrackingConfigError: a field outside what this project reproduces, named.
    """
    cfg = get_cfg()
    add_troi_config(cfg)
    model_type = _get(mm, "model.type")
    _expect(model_type in ("SELSA", "MaskTrackRCNN"), "model.type", model_type, "needs SELSA or MaskTrackRCNN")
    detector = _get(mm, "model.detector")
    video_detection = model_type == "SELSA"
    cfg.MODEL.WEIGHTS = weights
    cfg.MODEL.META_ARCHITECTURE = "VideoRCNN" if video_detection else "MaskTrackRCNN"
    _backbone(cfg, _get(detector, "backbone"), fpn=not video_detection)
    _neck(cfg, _get(detector, "neck"), fpn=not video_detection)
    _rpn(cfg, detector)
    _roi_heads(cfg, detector, video_detection)
    if not video_detection:
        _track_head(cfg, _get(mm, "model.track_head"), _get(mm, "model.tracker", {}))
    _inputs(cfg, mm, fpn=not video_detection)
    _support_frames(cfg, mm, video_detection)
    _solver(cfg, mm)
    num_classes = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if video_detection:
        cfg.DATASETS.TRAIN = ("imagenet_vid_train", "imagenet_det_30cls_train")
        cfg.DATASETS.TEST = ("imagenet_vid_val",)
    else:
        version = "2021" if "2021" in str(_get(mm, "data.test.ann_file", "")) else "2019"
        cfg.DATASETS.TRAIN, cfg.DATASETS.TEST = (f"ytvis_{version}_train",), (f"ytvis_{version}_val",)
    cfg.DATALOADER.NUM_WORKERS = int(_get(mm, "data.workers_per_gpu", 4))
    _expect(num_classes > 0, "bbox_head.num_classes", num_classes, "needs >= 1 class")
    return cfg


def _backbone(cfg: CfgNode, backbone: dict, fpn: bool):
    path = "model.detector.backbone"
    kind = backbone.get("type")
    _expect(kind in ("ResNet", "ResNeXt"), f"{path}.type", kind, "needs ResNet or ResNeXt")
    depth = backbone.get("depth")
    _expect(depth in (50, 101, 152), f"{path}.depth", depth, "needs 50, 101 or 152")
    _expect(backbone.get("num_stages", 4) == 4, f"{path}.num_stages", backbone.get("num_stages"), "needs 4")
    _expect(not backbone.get("deep_stem", False), f"{path}.deep_stem", True, "needs the 7x7 stem")
    _expect(not backbone.get("avg_down", False), f"{path}.avg_down", True, "needs a strided 1x1 shortcut")
    _expect(backbone.get("dcn") is None, f"{path}.dcn", backbone.get("dcn"), "deformable convs need detectron2._C")
    norm = backbone.get("norm_cfg", {"type": "BN"})
    _expect(norm.get("type") in ("BN", "SyncBN"), f"{path}.norm_cfg.type", norm.get("type"), "needs BN")
    style = backbone.get("style", "pytorch")
    _expect(style in ("pytorch", "caffe"), f"{path}.style", style, "needs 'pytorch' or 'caffe'")
    base = int(backbone.get("base_channels", 64))
    groups = int(backbone.get("groups", 1)) if kind == "ResNeXt" else 1
    _expect(groups == 1 or base == 64, f"{path}.base_channels", base, "a ResNeXt needs 64")
    strides, dilations = tuple(backbone.get("strides", (1, 2, 2, 2))), tuple(backbone.get("dilations", (1, 1, 1, 1)))
    if fpn:
        _expect(
            strides == (1, 2, 2, 2) and dilations == (1, 1, 1, 1),
            f"{path}.strides/dilations",
            (strides, dilations),
            "an FPN backbone needs strides (1, 2, 2, 2) without dilation",
        )
        out = tuple(backbone.get("out_indices", (0, 1, 2, 3)))
        _expect(out == (0, 1, 2, 3), f"{path}.out_indices", out, "an FPN backbone needs (0, 1, 2, 3)")
        cfg.MODEL.BACKBONE.NAME = "build_resnet_fpn_backbone"
        cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    else:
        _expect(
            strides == (1, 2, 2, 1) and dilations == (1, 1, 1, 2),
            f"{path}.strides/dilations",
            (strides, dilations),
            "a DC5 backbone needs strides (1, 2, 2, 1) and dilations (1, 1, 1, 2)",
        )
        out = tuple(backbone.get("out_indices", ()))
        _expect(out == (3,), f"{path}.out_indices", out, "a DC5 backbone needs (3,)")
        cfg.MODEL.BACKBONE.NAME = "build_resnet_dc5_backbone"
        cfg.MODEL.RESNETS.OUT_FEATURES = ["res5"]
        cfg.MODEL.RESNETS.RES5_DILATION = 2
    cfg.MODEL.BACKBONE.FREEZE_AT = int(backbone.get("frozen_stages", -1)) + 1
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.NORM = "FrozenBN"
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = style == "caffe"
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = base
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = base * 4
    cfg.MODEL.RESNETS.NUM_GROUPS = groups
    # mmdet's ResNeXt bottleneck is base_width * groups wide in res2 (ResNet: base_channels).
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = int(backbone.get("base_width", 4)) if groups > 1 else base


def _neck(cfg: CfgNode, neck: dict, fpn: bool):
    path = "model.detector.neck"
    res5_channels = cfg.MODEL.RESNETS.RES2_OUT_CHANNELS * 8
    if fpn:
        _expect(neck.get("type") == "FPN", f"{path}.type", neck.get("type"), "needs FPN")
        widths = [cfg.MODEL.RESNETS.RES2_OUT_CHANNELS * 2**i for i in range(4)]
        _expect(
            list(neck.get("in_channels", [])) == widths,
            f"{path}.in_channels",
            neck.get("in_channels"),
            f"needs the backbone's {widths}",
        )
        _expect(
            neck.get("num_outs") == 5 and not neck.get("add_extra_convs", False) and neck.get("start_level", 0) == 0,
            f"{path}.num_outs/add_extra_convs/start_level",
            neck,
            "needs P2-P6 with P6 by max pooling",
        )
        _expect(neck.get("norm_cfg") is None, f"{path}.norm_cfg", neck.get("norm_cfg"), "needs an FPN without norm")
        cfg.MODEL.FPN.IN_FEATURES = ["res2", "res3", "res4", "res5"]
        cfg.MODEL.FPN.OUT_CHANNELS = int(neck["out_channels"])
        cfg.MODEL.FPN.NORM = ""
        return
    _expect(neck.get("type") == "ChannelMapper", f"{path}.type", neck.get("type"), "needs ChannelMapper")
    _expect(
        list(neck.get("in_channels", [])) == [res5_channels],
        f"{path}.in_channels",
        neck.get("in_channels"),
        f"needs the backbone's [{res5_channels}]",
    )
    _expect(neck.get("kernel_size", 3) == 3, f"{path}.kernel_size", neck.get("kernel_size"), "needs 3")
    _expect(neck.get("norm_cfg") is None, f"{path}.norm_cfg", neck.get("norm_cfg"), "needs no norm")
    activation = neck.get("act_cfg", {"type": "ReLU"})
    _expect(activation == {"type": "ReLU"}, f"{path}.act_cfg", activation, "needs ReLU")
    cfg.MODEL.DC5.NECK_CHANNELS = int(neck["out_channels"])


def _nms_threshold(section: dict, path: str) -> float:
    nms = _get(section, "nms", {"type": "nms", "iou_threshold": 0.7})
    _expect(nms.get("type", "nms") == "nms", f"{path}.nms.type", nms.get("type"), "needs 'nms'")
    return float(nms["iou_threshold"])


def _rpn(cfg: CfgNode, detector: dict):
    path = "model.detector.rpn_head"
    head = _get(detector, "rpn_head")
    _expect(head.get("type") == "RPNHead", f"{path}.type", head.get("type"), "needs RPNHead")
    features = ["p2", "p3", "p4", "p5", "p6"] if cfg.MODEL.BACKBONE.NAME.endswith("fpn_backbone") else ["dc5"]
    anchors = _get(head, "anchor_generator")
    _expect(
        anchors.get("type") == "AnchorGenerator" and anchors.get("octave_base_scale") is None,
        f"{path}.anchor_generator",
        anchors,
        "needs an AnchorGenerator with scales",
    )
    _expect(
        anchors.get("center_offset", 0.0) == 0.0,
        f"{path}.anchor_generator.center_offset",
        anchors.get("center_offset"),
        "needs 0",
    )
    strides = list(anchors["strides"])
    base_sizes = list(anchors.get("base_sizes") or strides)
    _expect(
        len(strides) == len(features),
        f"{path}.anchor_generator.strides",
        strides,
        f"needs one stride per level {features}",
    )
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[float(base * scale) for scale in anchors["scales"]] for base in base_sizes]
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [[float(ratio) for ratio in anchors["ratios"]]]
    cfg.MODEL.ANCHOR_GENERATOR.OFFSET = 0.0
    cfg.MODEL.RPN.IN_FEATURES = features
    feat_channels = int(head.get("feat_channels", head["in_channels"]))
    cfg.MODEL.RPN.CONV_DIMS = [-1 if feat_channels == head["in_channels"] else feat_channels]
    cfg.MODEL.RPN.BBOX_REG_WEIGHTS = tuple(1.0 / std for std in box_coder_stds(head, path))
    _loss(cfg.MODEL.RPN, head, path)
    train_rpn = _get(detector, "train_cfg.rpn", {})
    if train_rpn:
        assigner, sampler = train_rpn["assigner"], train_rpn["sampler"]
        cfg.MODEL.RPN.IOU_THRESHOLDS = [float(assigner["neg_iou_thr"]), float(assigner["pos_iou_thr"])]
        cfg.MODEL.RPN.BATCH_SIZE_PER_IMAGE = int(sampler["num"])
        cfg.MODEL.RPN.POSITIVE_FRACTION = float(sampler["pos_fraction"])
        cfg.MODEL.RPN.BOUNDARY_THRESH = int(train_rpn.get("allowed_border", -1))
    proposal = _get(detector, "train_cfg.rpn_proposal", {})
    if proposal:
        cfg.MODEL.RPN.PRE_NMS_TOPK_TRAIN = int(proposal["nms_pre"])
        cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = int(proposal.get("max_per_img", proposal.get("max_num")))
    test = _get(detector, "test_cfg.rpn")
    cfg.MODEL.RPN.PRE_NMS_TOPK_TEST = int(test["nms_pre"])
    cfg.MODEL.RPN.POST_NMS_TOPK_TEST = int(test.get("max_per_img", test.get("max_num")))
    cfg.MODEL.RPN.NMS_THRESH = _nms_threshold(test, "model.detector.test_cfg.rpn")
    cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = int(test.get("min_bbox_size", 0))


def _loss(node: CfgNode, head: dict, path: str):
    """BBOX_REG_LOSS_TYPE / SMOOTH_L1_BETA of an RPN or box head's ``loss_bbox``."""
    loss = head.get("loss_bbox", {"type": "L1Loss"})
    _expect(
        loss.get("type") in ("SmoothL1Loss", "L1Loss"),
        f"{path}.loss_bbox.type",
        loss.get("type"),
        "needs SmoothL1Loss or L1Loss",
    )
    node.BBOX_REG_LOSS_TYPE = "smooth_l1"
    node.SMOOTH_L1_BETA = float(loss.get("beta", 1.0)) if loss["type"] == "SmoothL1Loss" else 0.0
    node.BBOX_REG_LOSS_WEIGHT = float(loss.get("loss_weight", 1.0))


def _roi_layer(extractor: dict, path: str, strides: Sequence[int]) -> dict:
    layer = _get(extractor, "roi_layer")
    _expect(layer.get("type") == "RoIAlign", f"{path}.roi_layer.type", layer.get("type"), "needs RoIAlign")
    _expect(layer.get("pool_mode", "avg") == "avg", f"{path}.roi_layer.pool_mode", layer.get("pool_mode"), "avg")
    _expect(
        list(extractor.get("featmap_strides", [])) == list(strides),
        f"{path}.featmap_strides",
        extractor.get("featmap_strides"),
        f"needs {list(strides)}",
    )
    _expect(
        extractor.get("finest_scale", 56) == 56,
        f"{path}.finest_scale",
        extractor.get("finest_scale"),
        "needs 56 (detectron2's canonical level 4 at 224)",
    )
    return {
        "resolution": int(layer["output_size"]),
        "sampling_ratio": int(layer.get("sampling_ratio", 0)),
        "type": "ROIAlignV2" if layer.get("aligned", True) else "ROIAlign",
    }


def _roi_heads(cfg: CfgNode, detector: dict, video_detection: bool):
    path = "model.detector.roi_head"
    roi_head = _get(detector, "roi_head")
    expected = "SelsaRoIHead" if video_detection else "StandardRoIHead"
    _expect(roi_head.get("type") == expected, f"{path}.type", roi_head.get("type"), f"needs {expected}")
    strides = [16] if video_detection else [4, 8, 16, 32]
    cfg.MODEL.ROI_HEADS.NAME = "TemporalROIHeads" if video_detection else "MaskTrackROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["dc5"] if video_detection else ["p2", "p3", "p4", "p5"]
    extractor = _get(roi_head, "bbox_roi_extractor")
    pooler = _roi_layer(extractor, f"{path}.bbox_roi_extractor", strides)
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = pooler["resolution"]
    cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = pooler["sampling_ratio"]
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = pooler["type"]
    if extractor.get("type") == "TemporalRoIAlign":
        cfg.MODEL.TROI.ENABLED = True
        cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS = int(extractor.get("num_most_similar_points", 2))
        cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS = max(int(extractor.get("num_temporal_attention_blocks", 4)), 0)
    else:
        _expect(
            extractor.get("type") == "SingleRoIExtractor",
            f"{path}.bbox_roi_extractor.type",
            extractor.get("type"),
            "needs SingleRoIExtractor or TemporalRoIAlign",
        )
    _box_head(cfg, _get(roi_head, "bbox_head"), f"{path}.bbox_head", video_detection)
    if "mask_head" in roi_head:
        _mask_head(cfg, roi_head, path, strides)
    train = _get(detector, "train_cfg.rcnn", {})
    if train:
        assigner, sampler = train["assigner"], train["sampler"]
        _expect(
            assigner["pos_iou_thr"] == assigner["neg_iou_thr"],
            "model.detector.train_cfg.rcnn.assigner",
            assigner,
            "needs pos_iou_thr == neg_iou_thr (detectron2's one threshold)",
        )
        cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS = [float(assigner["pos_iou_thr"])]
        cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = int(sampler["num"])
        cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = float(sampler["pos_fraction"])
        cfg.MODEL.ROI_HEADS.PROPOSAL_APPEND_GT = bool(sampler.get("add_gt_as_proposals", True))
    test = _get(detector, "test_cfg.rcnn")
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(test["score_thr"])
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = _nms_threshold(test, "model.detector.test_cfg.rcnn")
    cfg.TEST.DETECTIONS_PER_IMAGE = int(test["max_per_img"])
    _expect(
        test.get("mask_thr_binary", 0.5) == 0.5,
        "model.detector.test_cfg.rcnn.mask_thr_binary",
        test.get("mask_thr_binary"),
        "needs 0.5 (detectron2's mask threshold)",
    )


def _box_head(cfg: CfgNode, head: dict, path: str, video_detection: bool):
    kind = head.get("type")
    allowed = ("SelsaBBoxHead",) if video_detection else ("Shared2FCBBoxHead", "ConvFCBBoxHead")
    _expect(kind in allowed, f"{path}.type", kind, f"needs one of {allowed}")
    num_fcs = int(head.get("num_shared_fcs", 2))
    for field in ("num_shared_convs", "num_cls_convs", "num_cls_fcs", "num_reg_convs", "num_reg_fcs"):
        _expect(int(head.get(field, 0)) == 0, f"{path}.{field}", head.get(field), "needs 0")
    _expect(not head.get("with_avg_pool", False), f"{path}.with_avg_pool", True, "needs False")
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_CONV = 0
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = num_fcs
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = int(head.get("fc_out_channels", 1024))
    _expect(
        int(head.get("roi_feat_size", 7)) == cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION,
        f"{path}.roi_feat_size",
        head.get("roi_feat_size"),
        "needs the RoI extractor's output size",
    )
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = int(head["num_classes"])
    cfg.MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG = bool(head.get("reg_class_agnostic", False))
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = tuple(1.0 / std for std in box_coder_stds(head, path))
    _loss(cfg.MODEL.ROI_BOX_HEAD, head, path)
    if video_detection:
        aggregator = _get(head, "aggregator")
        _expect(
            aggregator.get("type") == "SelsaAggregator",
            f"{path}.aggregator.type",
            aggregator.get("type"),
            "needs SelsaAggregator",
        )
        _expect(
            aggregator.get("in_channels") == cfg.MODEL.ROI_BOX_HEAD.FC_DIM,
            f"{path}.aggregator.in_channels",
            aggregator.get("in_channels"),
            "needs fc_out_channels",
        )
        cfg.MODEL.SELSA.ENABLED = True
        cfg.MODEL.SELSA.NUM_ATTENTION_BLOCKS = int(aggregator.get("num_attention_blocks", 16))
        cfg.MODEL.SELSA.AGGREGATE_AFTER_FC = []
        cfg.MODEL.SELSA.AGGREGATE_REFERENCES = False


def _mask_head(cfg: CfgNode, roi_head: dict, path: str, strides: Sequence[int]):
    head = roi_head["mask_head"]
    _expect(head.get("type") == "FCNMaskHead", f"{path}.mask_head.type", head.get("type"), "needs FCNMaskHead")
    _expect(
        head.get("upsample_cfg", {"type": "deconv"}).get("type") == "deconv",
        f"{path}.mask_head.upsample_cfg",
        head.get("upsample_cfg"),
        "needs a 2x deconv",
    )
    pooler = _roi_layer(_get(roi_head, "mask_roi_extractor"), f"{path}.mask_roi_extractor", strides)
    cfg.MODEL.MASK_ON = True
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = int(head.get("num_convs", 4))
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = int(head.get("conv_out_channels", 256))
    cfg.MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK = bool(head.get("class_agnostic", False))
    cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = pooler["resolution"]
    cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO = pooler["sampling_ratio"]
    cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE = pooler["type"]
    cfg.INPUT.MASK_FORMAT = "bitmask"


def _track_head(cfg: CfgNode, track_head: dict, tracker: dict):
    path = "model.track_head"
    _expect(track_head.get("type") == "RoITrackHead", f"{path}.type", track_head.get("type"), "needs RoITrackHead")
    pooler = _roi_layer(_get(track_head, "roi_extractor"), f"{path}.roi_extractor", [4, 8, 16, 32])
    embed = _get(track_head, "embed_head")
    _expect(
        embed.get("type") == "RoIEmbedHead" and int(embed.get("num_convs", 0)) == 0,
        f"{path}.embed_head",
        embed,
        "needs a RoIEmbedHead of FCs only",
    )
    cfg.MODEL.TRACK_HEAD.NAME = "TrackEmbeddingHead"
    cfg.MODEL.TRACK_HEAD.NUM_FC = int(embed.get("num_fcs", 2))
    cfg.MODEL.TRACK_HEAD.FC_DIM = int(embed.get("fc_out_channels", 1024))
    cfg.MODEL.TRACK_HEAD.RELU_AFTER_LAST_FC = True
    cfg.MODEL.TRACK_HEAD.POOLER_RESOLUTION = pooler["resolution"]
    cfg.MODEL.TRACK_HEAD.POOLER_SAMPLING_RATIO = pooler["sampling_ratio"]
    cfg.MODEL.TRACK_HEAD.POOLER_TYPE = pooler["type"]
    weights = tracker.get("match_weights", {})
    cfg.MODEL.TRACKER.SCORE_WEIGHT = float(weights.get("det_score", 1.0))
    cfg.MODEL.TRACKER.IOU_WEIGHT = float(weights.get("iou", 2.0))
    cfg.MODEL.TRACKER.CLASS_WEIGHT = float(weights.get("det_label", 10.0))
    cfg.MODEL.TRACKER.MAX_UNSEEN_FRAMES = int(tracker.get("num_frames_retain", 20))


def _pipeline_steps(pipeline: List[dict]) -> List[dict]:
    """The steps of a pipeline, with those nested in MultiScaleFlipAug (its img_scale given
    to its Resize)."""
    steps = []
    for step in pipeline:
        if step.get("type") == "MultiScaleFlipAug":
            _expect(not step.get("flip", False), "test_pipeline.MultiScaleFlipAug.flip", True, "needs False")
            for inner in step["transforms"]:
                steps.append({"img_scale": step["img_scale"], **inner} if inner.get("type") == "Resize" else inner)
        else:
            steps.append(step)
    return steps


def _step(steps: List[dict], names: Sequence[str], path: str) -> dict:
    for step in steps:
        if step.get("type") in names:
            return step
    raise MMTrackingConfigError(f"the mmtracking {path} has no {' / '.join(names)} step")


def _resize_sizes(step: dict, path: str):
    _expect(step.get("keep_ratio", True), f"{path}.keep_ratio", False, "needs keep_ratio=True")
    scale = step["img_scale"]
    scales = [scale] if isinstance(scale, tuple) else [tuple(s) for s in scale]
    _expect(all(len(s) == 2 for s in scales), f"{path}.img_scale", scale, "needs (long, short) sizes")
    return tuple(int(min(s)) for s in scales), int(max(max(s) for s in scales))


def _inputs(cfg: CfgNode, mm: dict, fpn: bool):
    test_path = "data.test.pipeline"
    steps = _pipeline_steps(_get(mm, test_path))
    normalize = _step(steps, ("Normalize", "SeqNormalize"), test_path)
    rgb = bool(normalize.get("to_rgb", True))
    cfg.INPUT.FORMAT = "RGB" if rgb else "BGR"
    cfg.MODEL.PIXEL_MEAN = [float(v) for v in normalize["mean"]]
    cfg.MODEL.PIXEL_STD = [float(v) for v in normalize["std"]]
    resize = _step(steps, ("Resize", "SeqResize"), test_path)
    short, long = _resize_sizes(resize, f"{test_path}.Resize")
    _expect(len(short) == 1, f"{test_path}.Resize.img_scale", resize["img_scale"], "needs one test size")
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = short[0], long
    cfg.INPUT.RESIZE_BACKEND = "cv2"
    divisor = int(_step(steps, ("Pad", "SeqPad"), test_path).get("size_divisor", 0))
    if fpn:
        _expect(divisor == 32, f"{test_path}.Pad.size_divisor", divisor, "needs 32 (detectron2's FPN pads to 32)")
    else:
        cfg.MODEL.DC5.SIZE_DIVISIBILITY = divisor
    train = _get(mm, "data.train")
    train = train[0] if isinstance(train, list) else train
    train_steps = _pipeline_steps(train.get("pipeline", []))
    train_resize = next((s for s in train_steps if s.get("type") in ("Resize", "SeqResize")), None)
    if train_resize is not None:
        cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = _resize_sizes(train_resize, "data.train.pipeline.Resize")
        cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    flip = next((s for s in train_steps if s.get("type") in ("RandomFlip", "SeqRandomFlip")), {})
    cfg.INPUT.RANDOM_FLIP = "horizontal" if flip.get("flip_ratio", 0) else "none"


def _support_frames(cfg: CfgNode, mm: dict, video_detection: bool):
    train = _get(mm, "data.train")
    train = train[0] if isinstance(train, list) else train
    sampler = train.get("ref_img_sampler") or {}
    if not video_detection:
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.NUM = 0
        cfg.INPUT.SUPPORT_FRAMES.TEST.NUM = 0
        frame_range = sampler.get("frame_range", 100)
        cfg.INPUT.REFERENCE_FRAME.FRAME_RANGE = int(frame_range if isinstance(frame_range, int) else max(frame_range))
        return
    if sampler:
        _expect(
            sampler.get("method") == "bilateral_uniform" and sampler.get("filter_key_img", True),
            "data.train.ref_img_sampler",
            sampler,
            "needs bilateral_uniform without the key frame",
        )
        frame_range = sampler["frame_range"]
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.NUM = int(sampler["num_ref_imgs"])
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.METHOD = "random"
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.FRAME_RANGE = int(
            frame_range if isinstance(frame_range, int) else max(abs(v) for v in frame_range)
        )
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.BEYOND_ENDS = "drop"
        cfg.INPUT.SUPPORT_FRAMES.TRAIN.INCLUDE_TARGET = False
    test = _get(mm, "data.test.ref_img_sampler")
    _expect(
        test.get("method") == "test_with_adaptive_stride",
        "data.test.ref_img_sampler.method",
        test.get("method"),
        "needs test_with_adaptive_stride (uniform over the video)",
    )
    frame_range = test.get("frame_range", [-7, 7])
    # mmtracking resets num_ref_imgs to frame_range[1] - frame_range[0] for test samplers.
    num = frame_range[1] - frame_range[0] if isinstance(frame_range, list) else 2 * frame_range
    cfg.INPUT.SUPPORT_FRAMES.TEST.NUM = int(num)
    cfg.INPUT.SUPPORT_FRAMES.TEST.METHOD = "uniform"
    cfg.INPUT.SUPPORT_FRAMES.TEST.INCLUDE_TARGET = True  # SELSA.extract_feats appends the key frame


def _solver(cfg: CfgNode, mm: dict):
    optimizer = _get(mm, "optimizer", {})
    if optimizer:
        _expect(optimizer.get("type") == "SGD", "optimizer.type", optimizer.get("type"), "needs SGD")
        samples = int(_get(mm, "data.samples_per_gpu", 1))
        cfg.SOLVER.IMS_PER_BATCH = 8 * samples  # the reference trains on 8 GPUs
        cfg.SOLVER.BASE_LR = float(optimizer["lr"])
        cfg.SOLVER.MOMENTUM = float(optimizer.get("momentum", 0.0))
        cfg.SOLVER.WEIGHT_DECAY = float(optimizer.get("weight_decay", 0.0))
    clip: Optional[dict] = (_get(mm, "optimizer_config", {}) or {}).get("grad_clip")
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = bool(clip)
    if clip:
        cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"
        cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = float(clip["max_norm"])
        cfg.SOLVER.CLIP_GRADIENTS.NORM_TYPE = float(clip.get("norm_type", 2))
    lr = _get(mm, "lr_config", {})
    if lr.get("warmup") == "linear":
        cfg.SOLVER.WARMUP_METHOD = "linear"
        cfg.SOLVER.WARMUP_ITERS = int(lr.get("warmup_iters", 500))
        cfg.SOLVER.WARMUP_FACTOR = float(lr.get("warmup_ratio", 1 / 3))
