"""All config keys this project adds to detectron2's, in one place."""

from . import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from detectron2.config import CfgNode as CN

from .layers.most_similar_roi_align import DEFAULT_SIMILARITY_CHUNK_SIZE

__all__ = ["add_troi_config"]


def add_troi_config(cfg):
    """Add the TRoI, SELSA, backbone, track head, tracker, support- and reference-frame keys,
    and the video recognition ones (TAM, recognition head, clips), to a detectron2 config
    (in place)."""
    # --- Temporal RoI Align (Gong et al., AAAI 2021) ----------------------------------------
    cfg.MODEL.TROI = CN()
    # Replace RoI Align by Temporal RoI Align for the target frame's proposals.
    cfg.MODEL.TROI.ENABLED = False
    # K: most similar points per RoI cell and support frame (MS RoI Align, eq. 2-4).
    cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS = 2
    # N: temporal attention blocks of TAFA (eq. 5-8); 0 averages the T+1 frames.
    cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS = 4
    # Similarity entries (RoI cells x support positions) computed at once; bounds memory.
    cfg.MODEL.TROI.SIMILARITY_CHUNK_SIZE = DEFAULT_SIMILARITY_CHUNK_SIZE  # 2**20
    # Precision of the search for the most similar points: "exact" (float32), or "bfloat16" /
    # "float16": candidates found with that product and re-scored as the exact search's are,
    # so the chosen points' weights and features stay the exact search's
    # (troi.layers.low_precision_search). Used only where the device multiplies it fast
    # (tensor cores, AVX-512-BF16/AMX); elsewhere the search stays exact and the log says so once.
    cfg.MODEL.TROI.SIMILARITY_PRECISION = "exact"
    # ROI head branches whose RoI features are Temporal RoI Aligned when ENABLED: any of
    # "box", "mask" (TemporalROIHeads) and "track" (MaskTrackROIHeads); each has its own
    # operator.
    cfg.MODEL.TROI.BRANCHES = ["box", "mask", "track"]

    # --- SELSA (Wu et al., ICCV 2019) ----------------------------------------------------
    cfg.MODEL.SELSA = CN()
    # Aggregate target proposal features over the support frames' proposal features.
    cfg.MODEL.SELSA.ENABLED = False
    # Attention heads of each SELSA aggregator.
    cfg.MODEL.SELSA.NUM_ATTENTION_BLOCKS = 16
    # 1-based indices of the box head's FC layers followed by an aggregator (before their
    # ReLU: x = x + agg(x, ref_x)); empty means after every FC.
    cfg.MODEL.SELSA.AGGREGATE_AFTER_FC = []
    # Reference proposals per support frame: the top ones of the RPN run with its test-time
    # settings (PRE/POST_NMS_TOPK_TEST), in training too.
    cfg.MODEL.SELSA.SUPPORT_PROPOSALS = 300
    # How the reference proposals' features pass the box head's FCs. False: plain FC + ReLU
    # (mmtracking's SelsaBBoxHead, the reference: False). True: also aggregated over
    # themselves after each FC, as the target proposals are (the original MXNet SELSA).
    cfg.MODEL.SELSA.AGGREGATE_REFERENCES = False

    # --- Backbones ---------------------------------------------------------------------
    cfg.MODEL.DC5 = CN()
    # Channels of the 3x3 conv + ReLU neck on the dilated res5 (2048 -> 512 in the reference).
    cfg.MODEL.DC5.NECK_CHANNELS = 512
    # Input images are zero-padded (after normalization) to a multiple of this; the padding
    # feeds the backbone, so it changes the features near the bottom/right border
    # (reference: 16, mmdet's Pad size_divisor).
    cfg.MODEL.DC5.SIZE_DIVISIBILITY = 16
    # BatchNorm layers of the backbone keep and use their running statistics in training
    # too, while their scale and shift still train (mmdet's norm_eval=True with a trainable
    # BN; the reference: True, with MODEL.RESNETS.NORM "BN"). Stages frozen by FREEZE_AT are
    # FrozenBN either way.
    cfg.MODEL.BACKBONE.FREEZE_BN_STATS = False
    # Tiny dilated ResNet for CPU configs (detectron2 forbids dilation on R18/R34).
    cfg.MODEL.TINY_RESNET = CN()
    cfg.MODEL.TINY_RESNET.STEM_CHANNELS = 16
    # Output channels of res2..res5; bottleneck width is a quarter of them.
    cfg.MODEL.TINY_RESNET.STAGE_CHANNELS = [32, 64, 128, 256]
    cfg.MODEL.TINY_RESNET.BLOCKS_PER_STAGE = [1, 1, 2, 1]
    # "BN", "SyncBN" or "GN" (train from scratch: never FrozenBN).
    cfg.MODEL.TINY_RESNET.NORM = "BN"

    # --- Track head (MaskTrack R-CNN, Yang et al., ICCV 2019) ----------------------------
    cfg.MODEL.TRACK_HEAD = CN()
    # Whether training inputs carry a reference frame (VISFrameGroupDatasetMapper) is the
    # meta-architecture's to say (MaskTrackRCNN does): the former switch for it is ignored.
    cfg.register_deprecated_key("MODEL.TRACK_HEAD.ENABLED")
    # Name of the embedding head in ROI_TRACK_HEAD_REGISTRY.
    cfg.MODEL.TRACK_HEAD.NAME = "TrackEmbeddingHead"
    # FC layers of the embedding head (ReLU between them).
    cfg.MODEL.TRACK_HEAD.NUM_FC = 2
    cfg.MODEL.TRACK_HEAD.FC_DIM = 1024  # width of each FC: the embedding dimension D
    # A ReLU after the last FC too, so embeddings are >= 0 (mmtracking's RoIEmbedHead, the
    # reference: True). False lets embeddings and their dot products take any sign.
    cfg.MODEL.TRACK_HEAD.RELU_AFTER_LAST_FC = False
    # The track branch's RoI pooler (the box pooler's settings in the reference): output
    # size, sampling points per bin (0: adaptive) and type.
    cfg.MODEL.TRACK_HEAD.POOLER_RESOLUTION = 7
    cfg.MODEL.TRACK_HEAD.POOLER_SAMPLING_RATIO = 0
    cfg.MODEL.TRACK_HEAD.POOLER_TYPE = "ROIAlignV2"
    # Weight of the match cross-entropy ("loss_track").
    cfg.MODEL.TRACK_HEAD.LOSS_WEIGHT = 1.0

    # --- Tracker (inference): links each frame's detections to the video's tracks ---------
    # score(det, track) = log_softmax match + SCORE_WEIGHT * log(det score)
    #                     + IOU_WEIGHT * IoU(det, track's last box) + CLASS_WEIGHT * [same class],
    # maximized by a one-to-one (Hungarian) assignment in which any detection may start a track.
    cfg.MODEL.TRACKER = CN()
    cfg.MODEL.TRACKER.SCORE_WEIGHT = 1.0  # of the detection's log score
    cfg.MODEL.TRACKER.IOU_WEIGHT = 2.0  # of the box IoU with the track's last box
    cfg.MODEL.TRACKER.CLASS_WEIGHT = 10.0  # of the indicator "same class as the track"
    # A track unseen for more than this many consecutive frames is dropped.
    cfg.MODEL.TRACKER.MAX_UNSEEN_FRAMES = 20

    # --- Support frames ------------------------------------------------------------------
    # Per target frame, support frames are drawn from the same video by METHOD:
    #   "uniform": NUM frames evenly spread over the whole video (adaptive stride; the same
    #              set for every target of a video; the paper's test setting);
    #   "stride": NUM frames at target +- k*STRIDE, k = 1, 2, ... (half before, half after);
    #   "consecutive": "stride" with STRIDE = 1;
    #   "random": NUM frames drawn at random within +-FRAME_RANGE, half on each side.
    # BEYOND_ENDS says what happens to positions before the first or after the last frame:
    #   "clamp": they become that first/last frame (copies of it);
    #   "drop": there are none: "random" draws only among the frames inside the video (a side
    #           with no frame gives no support; mmtracking's "bilateral_uniform", the
    #           reference's train setting), "stride"/"consecutive" leave them out.
    # INCLUDE_TARGET: the target frame is also its own last support frame (mmtracking's
    # test: the 14 uniform frames plus the current one; the reference: True at test, False
    # in training). A one-frame video or still image is supported by copies of itself.
    cfg.INPUT.SUPPORT_FRAMES = CN()
    cfg.INPUT.SUPPORT_FRAMES.TRAIN = CN()
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.NUM = 2
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.METHOD = "random"
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.FRAME_RANGE = 9
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.STRIDE = 1
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.BEYOND_ENDS = "clamp"
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.INCLUDE_TARGET = False
    cfg.INPUT.SUPPORT_FRAMES.TEST = CN()
    cfg.INPUT.SUPPORT_FRAMES.TEST.NUM = 14
    cfg.INPUT.SUPPORT_FRAMES.TEST.METHOD = "uniform"
    cfg.INPUT.SUPPORT_FRAMES.TEST.FRAME_RANGE = 7
    cfg.INPUT.SUPPORT_FRAMES.TEST.STRIDE = 1
    cfg.INPUT.SUPPORT_FRAMES.TEST.BEYOND_ENDS = "clamp"
    cfg.INPUT.SUPPORT_FRAMES.TEST.INCLUDE_TARGET = False

    # --- Resizing ------------------------------------------------------------------------
    # How ResizeShortestEdge resamples images: "PIL" (detectron2's bilinear) or "cv2"
    # (mmcv's imresize: cv2.INTER_LINEAR without antialiasing, output size rounded as mmcv
    # does; the reference: "cv2").
    cfg.INPUT.RESIZE_BACKEND = "PIL"

    # --- Reference frame (track head training: MaskTrackRCNN) ----------------------------
    # Drawn uniformly within +-FRAME_RANGE frames of the target (never the target itself,
    # unless the video has one frame); it is also the first support frame.
    cfg.INPUT.REFERENCE_FRAME = CN()
    cfg.INPUT.REFERENCE_FRAME.FRAME_RANGE = 100

    # --- Video recognition: TANet (TAM, Liu et al., ICCV 2021) and TSN clips ---------------
    # The Temporal Adaptive Module of every bottleneck of build_tanet_backbone and
    # build_tiny_tanet_backbone (the defaults are the paper's and the reference's).
    cfg.MODEL.TAM = CN()
    cfg.MODEL.TAM.ALPHA = 2  # alpha: the global branch's hidden width is alpha * T
    cfg.MODEL.TAM.BETA = 4  # beta: the local branch's hidden width is C // beta
    cfg.MODEL.TAM.ADAPTIVE_KERNEL_SIZE = 3  # K: taps of the learnt temporal kernel (odd)
    # VideoRecognizer's head (TSN's): the backbone's IN_FEATURE, averaged over space and then
    # over the T segments (consensus), dropout, one FC to NUM_CLASSES scores.
    cfg.MODEL.RECOGNITION_HEAD = CN()
    cfg.MODEL.RECOGNITION_HEAD.IN_FEATURE = "res5"  # the backbone output it reads
    cfg.MODEL.RECOGNITION_HEAD.NUM_CLASSES = 400  # K (Kinetics-400; Something-Something: 174)
    cfg.MODEL.RECOGNITION_HEAD.DROPOUT = 0.5  # probability of zeroing a pooled feature (reference: 0.5)
    cfg.MODEL.RECOGNITION_HEAD.INIT_STD = 0.001  # std of the FC's normal init, bias 0 (reference: 0.001)
    # Clips (ClipDatasetMapper): one frame from each of NUM_SEGMENTS equal segments of a video
    # (a random one at train, the centre one at test: TSN's sampling); then the shorter side
    # is resized to INPUT.MIN_SIZE_TRAIN / MIN_SIZE_TEST (INPUT.RESIZE_BACKEND's resampling).
    # Train: a multi-scale crop (width and height each CROP_SCALES[i] x the shorter side, the
    # two scale indices at most MAX_ASPECT_GAP apart; at one of 13 fixed places, or anywhere
    # with RANDOM_CROP_POSITION) resized to CROP_SIZE x CROP_SIZE, then a horizontal flip
    # with probability FLIP_PROB (the class becomes the dataset's flip_label_map of it).
    # Test: the centre CROP_SIZE x CROP_SIZE crop. Drawn once per clip, applied to every frame.
    cfg.INPUT.CLIP = CN()
    cfg.INPUT.CLIP.NUM_SEGMENTS = 8  # T, also the TAMs' and the head's
    cfg.INPUT.CLIP.CROP_SIZE = 224  # side of the square clips the model sees
    cfg.INPUT.CLIP.CROP_SCALES = [1.0, 0.875, 0.75, 0.66]  # crop sides / shorter side (train)
    cfg.INPUT.CLIP.MAX_ASPECT_GAP = 1  # max index distance of the width's and height's scales
    cfg.INPUT.CLIP.RANDOM_CROP_POSITION = False  # False: the 13 fixed crop places (reference)
    cfg.INPUT.CLIP.FLIP_PROB = 0.5  # probability of a horizontal flip (train)
