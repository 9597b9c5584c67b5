"""All config keys this project adds to detectron2's, in one place."""
from detectron2.config import CfgNode as CN

__all__ = ["add_troi_config"]



def add_troi_config(cfg):
    """Add the TRoI, SELSA, backbone and support-frame keys to a detectron2 config (in place)."""
    # --- Temporal RoI Align (Gong et al., AAAI 2021) ----------------------------------------
    cfg.MODEL.TROI = CN()
    # Replace RoI Align by Temporal RoI Align for the target frame's proposals.
    cfg.MODEL.TROI.ENABLED = False
    # K: most similar points per RoI cell and support frame (MS RoI Align, eq. 2-4).
    cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS = 2
    # N: temporal attention blocks of TAFA (eq. 5-8); 0 averages the T+1 frames.
    cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS = 4
    # Similarity entries (RoI cells x support positions) computed at once; bounds memory.
    cfg.MODEL.TROI.SIMILARITY_CHUNK_SIZE = 2**22

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

    # --- Backbones ---------------------------------------------------------------------
    cfg.MODEL.DC5 = CN()
    # Channels of the 3x3 conv + ReLU neck on the dilated res5 (2048 -> 512 in the reference).
    cfg.MODEL.DC5.NECK_CHANNELS = 512
    # Tiny dilated ResNet for CPU configs (detectron2 forbids dilation on R18/R34).
    cfg.MODEL.TINY_RESNET = CN()
    cfg.MODEL.TINY_RESNET.STEM_CHANNELS = 16
    # Output channels of res2..res5; bottleneck width is a quarter of them.
    cfg.MODEL.TINY_RESNET.STAGE_CHANNELS = [32, 64, 128, 256]
    cfg.MODEL.TINY_RESNET.BLOCKS_PER_STAGE = [1, 1, 2, 1]
    # "BN", "SyncBN" or "GN" (train from scratch: never FrozenBN).
    cfg.MODEL.TINY_RESNET.NORM = "BN"

    # --- Support frames ------------------------------------------------------------------
    # Per target frame, support frames are drawn from the same video by METHOD:
    #   "uniform": NUM frames evenly spread over the whole video (adaptive stride; the same
    #              set for every target of a video; the paper's test setting);
    #   "stride": NUM frames at target +- k*STRIDE, k = 1, 2, ... (half before, half after);
    #   "consecutive": "stride" with STRIDE = 1;
    #   "random": NUM frames drawn at random within +-FRAME_RANGE, half on each side.
    # Indices beyond the first/last frame are clamped: those supports are copies of it.
    cfg.INPUT.SUPPORT_FRAMES = CN()
    cfg.INPUT.SUPPORT_FRAMES.TRAIN = CN()
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.NUM = 2
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.METHOD = "random"
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.FRAME_RANGE = 9
    cfg.INPUT.SUPPORT_FRAMES.TRAIN.STRIDE = 1
    cfg.INPUT.SUPPORT_FRAMES.TEST = CN()
    cfg.INPUT.SUPPORT_FRAMES.TEST.NUM = 14
    cfg.INPUT.SUPPORT_FRAMES.TEST.METHOD = "uniform"
    cfg.INPUT.SUPPORT_FRAMES.TEST.FRAME_RANGE = 7
    cfg.INPUT.SUPPORT_FRAMES.TEST.STRIDE = 1
