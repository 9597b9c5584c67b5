"""Rendering of the synthetic videos (:mod:`.synthetic` writes them as datasets): textured
objects moving over a smooth background, with runs of degraded frames. Pure numpy/OpenCV;
see :mod:`.synthetic` for what the videos show and why.
"""

import dataclasses
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "DEGRADATIONS",
    "MIN_FRAMES",
    "MIN_IMAGE_SIDE",
    "SYNTHETIC_CLASSES",
    "RenderedFrame",
    "render_video",
]

SYNTHETIC_CLASSES = ("horizontal_stripes", "vertical_stripes", "checkerboard", "dots")
DEGRADATIONS = ("motion_blur", "defocus", "occlusion")
SHAPES = ("rectangle", "ellipse", "rounded_rectangle")

TEXTURE_PERIOD_RANGE = (4, 7)  # px, inclusive; one period per object
MAX_PERIOD = TEXTURE_PERIOD_RANGE[1]
OBJECT_SIZE_RANGE = (0.15, 0.35)  # object height / image height, width / image width
MIN_PATTERN_CONTRAST = 120.0  # L2 distance between an object's two pattern colours
OBJECT_SATURATION_RANGE = (150, 255)  # OpenCV HSV saturation of an object's hue
DARK_SHADE_RANGE = (70, 115)  # OpenCV HSV value of the dark pattern colour
BRIGHT_SHADE_RANGE = (205, 255)  # and of the bright one
MIN_BACKGROUND_CONTRAST = 45.0  # L2 distance of an object's mean colour to the background's
SPEED_RANGE = (0.8, 3.0)  # px / frame
MAX_SPEED = 4.0
VELOCITY_JITTER = 0.3  # std of the per-frame velocity change, px / frame
OBJECT_GAP = 4  # px kept between the boxes of two objects
SENSOR_NOISE = 2.0  # std of the per-frame noise, grey levels
BACKGROUND_NOISE = 4.0  # std of the fixed fine noise of backgrounds and occluders
BACKGROUND_CHROMA = 8.0  # backgrounds and occluders: each channel within +-8 of a grey level

DEGRADED_FRACTION_RANGE = (0.28, 0.38)  # target per video; at most 40% are degraded
MAX_DEGRADED_FRACTION = 0.4
RUN_LENGTH_RANGE = (2, 5)  # consecutive degraded frames, inclusive
MIN_CLEAN_GAP = 2  # clean frames between two runs
OCCLUDED_FRACTION_RANGE = (0.45, 0.65)  # target; the covered fraction lands in [0.4, 0.7]
OCCLUDER_MARGIN_RANGE = (2, 8)  # px the occluder extends past the object, inclusive

MOTION_BLUR_LENGTH_RANGE = (2.5 * MAX_PERIOD, 4.0 * MAX_PERIOD)
MOTION_BLUR_SIGMA = 0.5 * MAX_PERIOD
DEFOCUS_RADIUS_RANGE = (1.0 * MAX_PERIOD, 1.3 * MAX_PERIOD)
DEFOCUS_SIGMA = 0.35 * MAX_PERIOD

MIN_FRAMES = 6
MIN_IMAGE_SIDE = 64


@dataclasses.dataclass
class _SceneObject:
    """One object of a video: fixed class, texture, colours and shape; moving position."""

    instance_id: int
    category_id: int  # 1-based, as in the jsons
    patch: np.ndarray  # (h, w, 3) float32 textured appearance
    mask: np.ndarray  # (h, w) bool shape
    position: np.ndarray  # (y, x) float, top-left
    velocity: np.ndarray  # (vy, vx) float, px / frame

    def box(self):
        """``(y0, x0, y1, x1)`` of the patch at its rounded position."""
        y, x = np.rint(self.position).astype(int)
        return y, x, y + self.mask.shape[0], x + self.mask.shape[1]


def _texture(class_name, height, width, period, rng):
    """``(height, width)`` bool pattern (about half True) of one class, random phase."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    ys += rng.uniform(0, period)
    xs += rng.uniform(0, period)
    omega = 2 * np.pi / period
    if class_name == "horizontal_stripes":
        return np.cos(omega * ys) > 0
    if class_name == "vertical_stripes":
        return np.cos(omega * xs) > 0
    if class_name == "checkerboard":
        return np.cos(omega * xs) * np.cos(omega * ys) > 0
    # dots: a square grid of discs of radius 0.4 * period (50.3% of the area)
    dy, dx = ys % period - period / 2, xs % period - period / 2
    return dy**2 + dx**2 < (0.4 * period) ** 2


def _shape_mask(shape, height, width, rng):
    """``(height, width)`` bool mask of a rectangle, ellipse or rounded rectangle filling it."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    half_h, half_w = height / 2, width / 2
    if shape == "rectangle":
        return np.ones((height, width), dtype=bool)
    if shape == "ellipse":
        return ((ys - half_h) / half_h) ** 2 + ((xs - half_w) / half_w) ** 2 <= 1
    radius = rng.uniform(0.2, 0.45) * min(height, width)
    dy = np.maximum(np.abs(ys - half_h) - (half_h - radius), 0)
    dx = np.maximum(np.abs(xs - half_w) - (half_w - radius), 0)
    return dy**2 + dx**2 <= radius**2


def _smooth_texture(rng, height, width):
    """``(H, W, 3)`` float32 low-frequency near-grey blobs plus fixed fine noise: backgrounds
    and occluders (no periodic pattern)."""
    grid_shape = (int(rng.integers(3, 6)), int(rng.integers(3, 7)))
    grey = rng.uniform(70, 185) + rng.uniform(-40, 40, size=grid_shape + (1,))
    grid = grey + rng.uniform(-BACKGROUND_CHROMA, BACKGROUND_CHROMA, size=grid_shape + (3,))
    blobs = cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return blobs + rng.normal(0, BACKGROUND_NOISE, size=(height, width, 3)).astype(np.float32)


def _pattern_colors(rng, background_mean):
    """A dark and a bright shade (BGR) of one random saturated hue, whose mean stands out
    from the background's mean colour."""
    while True:
        hue, saturation = rng.uniform(0, 180), rng.uniform(*OBJECT_SATURATION_RANGE)
        shades = np.array(
            [[[hue, saturation, rng.uniform(*DARK_SHADE_RANGE)]], [[hue, saturation, rng.uniform(*BRIGHT_SHADE_RANGE)]]]
        )
        first, second = cv2.cvtColor(shades.astype(np.uint8), cv2.COLOR_HSV2BGR).reshape(2, 3).astype(np.float64)
        if (
            np.linalg.norm(first - second) >= MIN_PATTERN_CONTRAST
            and np.linalg.norm((first + second) / 2 - background_mean) >= MIN_BACKGROUND_CONTRAST
        ):
            return first, second


def _overlaps(box, other_boxes, gap):
    """Whether ``box`` comes within ``gap`` px of any of ``other_boxes`` (``(y0, x0, y1, x1)``)."""
    y0, x0, y1, x1 = box
    return any(y0 < b[2] + gap and b[0] < y1 + gap and x0 < b[3] + gap and b[1] < x1 + gap for b in other_boxes)


def _new_objects(rng, image_size, max_objects, background_mean, first_instance_id):
    """1..max_objects objects placed without overlap (fewer where no free place is found)."""
    height, width = image_size
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        category_id = int(rng.integers(len(SYNTHETIC_CLASSES))) + 1
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        obj_h = int(round(rng.uniform(*OBJECT_SIZE_RANGE) * height))
        obj_w = int(round(rng.uniform(*OBJECT_SIZE_RANGE) * width))
        period = int(rng.integers(TEXTURE_PERIOD_RANGE[0], TEXTURE_PERIOD_RANGE[1] + 1))
        pattern = _texture(SYNTHETIC_CLASSES[category_id - 1], obj_h, obj_w, period, rng)
        first, second = _pattern_colors(rng, background_mean)
        patch = np.where(pattern[..., None], first, second).astype(np.float32)
        mask = _shape_mask(shape, obj_h, obj_w, rng)
        angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(*SPEED_RANGE)
        velocity = np.array([np.sin(angle), np.cos(angle)]) * speed
        for _attempt in range(50):
            position = rng.uniform(0, 1, size=2) * [height - obj_h, width - obj_w]
            obj = _SceneObject(first_instance_id + len(objects), category_id, patch, mask, position, velocity)
            if not _overlaps(obj.box(), [other.box() for other in objects], OBJECT_GAP):
                objects.append(obj)
                break
    return objects


def _move(objects, rng, image_size):
    """One frame of motion: constant velocity plus jitter, bouncing off the image borders
    and off the other objects (a move that would come too close is reversed instead)."""
    limits = np.array(image_size, dtype=float)
    for obj in objects:
        velocity = obj.velocity + rng.normal(0, VELOCITY_JITTER, size=2)
        speed = np.linalg.norm(velocity)
        if speed > MAX_SPEED:
            velocity *= MAX_SPEED / speed
        position = obj.position + velocity
        high = limits - obj.mask.shape
        for axis in range(2):
            if position[axis] < 0:
                position[axis], velocity[axis] = -position[axis], -velocity[axis]
            elif position[axis] > high[axis]:
                position[axis], velocity[axis] = 2 * high[axis] - position[axis], -velocity[axis]
        previous = obj.position
        obj.position = np.clip(position, 0, high)
        if _overlaps(obj.box(), [other.box() for other in objects if other is not obj], OBJECT_GAP):
            obj.position, velocity = previous, -velocity
        obj.velocity = velocity


def _degradation_schedule(rng, num_frames):
    """Per-frame degradation name, or None for a clean frame.

    Runs of 2-5 degraded frames (one degradation each) cover 28-38% of the frames
    (target), capped at 40%; runs are at least 2 clean frames apart.
    """
    target = rng.uniform(*DEGRADED_FRACTION_RANGE) * num_frames
    max_degraded = int(MAX_DEGRADED_FRACTION * num_frames)
    runs = []
    while sum(runs) < target:
        runs.append(int(rng.integers(RUN_LENGTH_RANGE[0], RUN_LENGTH_RANGE[1] + 1)))
    excess = sum(runs) - max_degraded
    if excess > 0:
        runs[-1] -= excess
        if runs[-1] < RUN_LENGTH_RANGE[0]:
            runs.pop()
    spare = num_frames - sum(runs) - MIN_CLEAN_GAP * max(len(runs) - 1, 0)
    gaps = rng.multinomial(spare, np.full(len(runs) + 1, 1 / (len(runs) + 1)))
    gaps[1:-1] += MIN_CLEAN_GAP
    schedule = []
    for gap, run in zip(gaps, runs):
        schedule += [None] * int(gap) + [DEGRADATIONS[int(rng.integers(len(DEGRADATIONS)))]] * run
    return schedule + [None] * int(gaps[-1])


def _motion_blur_kernel(rng):
    """Normalised line kernel of random length and direction (bilinear splats along it)."""
    length = rng.uniform(*MOTION_BLUR_LENGTH_RANGE)
    angle = rng.uniform(0, np.pi)
    centre = int(np.ceil(length / 2)) + 1
    steps = np.linspace(-length / 2, length / 2, 8 * centre)
    ys, xs = centre + steps * np.sin(angle), centre + steps * np.cos(angle)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    fy, fx = ys - y0, xs - x0
    kernel = np.zeros((2 * centre + 1, 2 * centre + 1), dtype=np.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (y0 + dy, x0 + dx), wy * wx)
    return (kernel / kernel.sum()).astype(np.float32)


def _defocus_kernel(rng):
    """Normalised disk kernel of random radius (4x4 supersampled edges)."""
    radius = rng.uniform(*DEFOCUS_RADIUS_RANGE)
    size = 2 * int(np.ceil(radius)) + 1
    sub = (np.arange(4 * size) + 0.5) / 4 - size / 2
    disk = (sub[:, None] ** 2 + sub[None, :] ** 2 <= radius**2).astype(np.float32)
    kernel = disk.reshape(size, 4, size, 4).mean(axis=(1, 3))
    return kernel / kernel.sum()


def _blur(frame, degradation, rng):
    """Whole-frame motion blur or defocus of an ``(H, W, 3)`` float32 frame."""
    if degradation == "motion_blur":
        kernel, sigma = _motion_blur_kernel(rng), MOTION_BLUR_SIGMA
    else:
        kernel, sigma = _defocus_kernel(rng), DEFOCUS_SIGMA
    return cv2.GaussianBlur(_convolve(frame, kernel), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _convolve(frame, kernel):
    """Same-size convolution of an ``(H, W, 3)`` frame with a centred ``(k, k)`` kernel,
    borders reflected, through FFTs (several times faster than ``cv2.filter2D`` here)."""
    height, width = frame.shape[:2]
    size = kernel.shape[0]
    before, after = size // 2, size - 1 - size // 2
    padded = cv2.copyMakeBorder(frame, before, after, before, after, cv2.BORDER_REFLECT)
    shape = padded.shape[:2]
    spectrum = np.fft.rfft2(padded, axes=(0, 1)) * np.fft.rfft2(kernel, s=shape)[..., None]
    full = np.fft.irfft2(spectrum, s=shape, axes=(0, 1))  # (H + k - 1, W + k - 1, 3)
    return full[size - 1 : size - 1 + height, size - 1 : size - 1 + width].astype(np.float32)


def _occluder_plans(rng, objects):
    """Per object, how one occlusion run covers it: ``(side, fraction, margin)``."""
    sides = ("top", "bottom", "left", "right")
    return [
        (
            sides[int(rng.integers(4))],
            rng.uniform(*OCCLUDED_FRACTION_RANGE),
            int(rng.integers(OCCLUDER_MARGIN_RANGE[0], OCCLUDER_MARGIN_RANGE[1] + 1)),
        )
        for _ in objects
    ]


def _occluder_box(obj, plan, other_boxes, image_size):
    """``(y0, x0, y1, x1)`` of the occluder covering ``fraction`` of ``obj``'s mask from
    ``side``, reaching ``margin`` px past the object unless that would touch another object."""
    side, fraction, margin = plan
    height, width = obj.mask.shape
    vertical = side in ("top", "bottom")
    mass = obj.mask.sum(axis=1 if vertical else 0).astype(np.float64)  # per row or column
    if side in ("bottom", "right"):
        mass = mass[::-1]
    depth = int(np.argmin(np.abs(np.cumsum(mass) / mass.sum() - fraction))) + 1
    y, x, _, _ = obj.box()
    for m in (margin, 0):
        local = {
            "top": (-m, -m, depth, width + m),
            "bottom": (height - depth, -m, height + m, width + m),
            "left": (-m, -m, height + m, depth),
            "right": (-m, width - depth, height + m, width + m),
        }[side]
        box = (
            max(y + local[0], 0),
            max(x + local[1], 0),
            min(y + local[2], image_size[0]),
            min(x + local[3], image_size[1]),
        )
        if not _overlaps(box, other_boxes, 1):
            break
    return box


def _render(background, occluder_texture, objects, degradation, plans, rng):
    """One frame: the uint8 image and, per object, its amodal and visible ``(H, W)`` masks."""
    frame = background.copy()
    amodal, visible = [], []
    for obj in objects:
        y0, x0, y1, x1 = obj.box()
        region = frame[y0:y1, x0:x1]
        region[obj.mask] = obj.patch[obj.mask]
        full = np.zeros(frame.shape[:2], dtype=bool)
        full[y0:y1, x0:x1] = obj.mask
        amodal.append(full)
        visible.append(full.copy())
    if degradation == "occlusion":
        boxes = [obj.box() for obj in objects]
        for index, (obj, plan) in enumerate(zip(objects, plans)):
            y0, x0, y1, x1 = _occluder_box(obj, plan, boxes[:index] + boxes[index + 1 :], frame.shape[:2])
            frame[y0:y1, x0:x1] = occluder_texture[y0:y1, x0:x1]
            visible[index][y0:y1, x0:x1] = False
    elif degradation is not None:
        frame = _blur(frame, degradation, rng)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * SENSOR_NOISE
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8), amodal, visible


@dataclasses.dataclass
class RenderedFrame:
    """One rendered frame of a video."""

    image: np.ndarray  # (H, W, 3) uint8 BGR
    degradation: Optional[str]  # None or one of DEGRADATIONS
    amodal: List[np.ndarray]  # per object, (H, W) bool: the whole object, also where occluded
    visible: List[np.ndarray]  # per object, (H, W) bool: its visible part


def render_video(
    rng: np.random.Generator,
    image_size: Tuple[int, int],
    num_frames: Sequence[int],
    max_objects: int,
    first_instance_id: int,
) -> Tuple[List[_SceneObject], Iterator[RenderedFrame]]:
    """One video drawn from ``rng``: its objects (``instance_id`` from ``first_instance_id``,
    1-based ``category_id``) and an iterator over its frames (a length drawn from the
    inclusive range ``num_frames``), rendered one at a time as they are read."""
    background = _smooth_texture(rng, *image_size)
    occluder_texture = _smooth_texture(rng, *image_size)
    objects = _new_objects(rng, image_size, max_objects, background.mean(axis=(0, 1)), first_instance_id)
    schedule = _degradation_schedule(rng, int(rng.integers(num_frames[0], num_frames[1] + 1)))
    return objects, _frames(rng, image_size, background, occluder_texture, objects, schedule)


def _frames(rng, image_size, background, occluder_texture, objects, schedule) -> Iterator[RenderedFrame]:
    plans = None
    for frame_id, degradation in enumerate(schedule):
        if frame_id > 0:
            _move(objects, rng, image_size)
        if degradation == "occlusion" and (frame_id == 0 or schedule[frame_id - 1] != "occlusion"):
            plans = _occluder_plans(rng, objects)  # one plan per occlusion run
        image, amodal, visible = _render(background, occluder_texture, objects, degradation, plans, rng)
        yield RenderedFrame(image, degradation, amodal, visible)
