"""SELSA box head: a FastRCNNConvFCHead whose FC features attend over the support proposals."""

from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling.roi_heads.box_head import ROI_BOX_HEAD_REGISTRY, FastRCNNConvFCHead

from ...layers import SelsaAggregator, SelsaReferenceProjections

__all__ = ["SelsaBoxHead"]

# One aggregator's references: ``[M, C]`` features, or their projections by the aggregator.
References = Union[torch.Tensor, SelsaReferenceProjections]


def aggregate_per_image(aggregator, x, ref_x: References, rows_per_image, refs_per_image):
    """``x + aggregator(x_i, ref_x_i)`` image by image: image ``i``'s rows of ``x`` attend
    only over its own rows of ``ref_x`` (features, or their :meth:`SelsaAggregator.project`).
    ``[N, C]`` -> ``[N, C]``."""
    attend = aggregator.attend if isinstance(ref_x, SelsaReferenceProjections) else aggregator
    aggregated = [
        x_image + attend(x_image, ref_image)
        for x_image, ref_image in zip(x.split(rows_per_image), ref_x.split(refs_per_image))
    ]
    return torch.cat(aggregated) if aggregated else x


def concatenate(references: Sequence[References]) -> References:
    """Several frames' references of one aggregator as one (all features or all projections)."""
    if isinstance(references[0], SelsaReferenceProjections):
        return SelsaReferenceProjections.cat(references)
    return torch.cat(list(references))


@ROI_BOX_HEAD_REGISTRY.register()
class SelsaBoxHead(FastRCNNConvFCHead):
    """FastRCNNConvFCHead with a :class:`SelsaAggregator` after chosen FC layers.

    After such an FC and before its ReLU, the target proposals' features become
    ``x + agg(x, ref_x)``, where ``ref_x`` are the support proposals' features passed
    through the same layers: plainly (FC + ReLU, as mmtracking), or, with
    ``aggregate_references``, aggregated over themselves in the same way (the original
    MXNet SELSA). Without references it is exactly a FastRCNNConvFCHead.

    The references come as arguments, or from the :class:`FrameGroupScope` its ROI heads
    share with it (:attr:`frame_group`), so that detectron2's ``_forward_box`` calls it
    unchanged.

    Args:
        num_attention_blocks: heads of each aggregator.
        aggregate_after_fc: 1-based FC indices followed by an aggregator; empty = all.
        aggregate_references: see above.
        Other arguments: as :class:`FastRCNNConvFCHead`.
    """

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        conv_dims,
        fc_dims,
        conv_norm="",
        num_attention_blocks: int = 16,
        aggregate_after_fc: Sequence[int] = (),
        aggregate_references: bool = False,
    ):
        super().__init__(input_shape, conv_dims=conv_dims, fc_dims=fc_dims, conv_norm=conv_norm)
        self.aggregate_references = aggregate_references
        self.frame_group = None  # a FrameGroupScope, set by the ROI heads that own the head
        indices = list(aggregate_after_fc) or list(range(1, len(fc_dims) + 1))
        if not fc_dims or any(not 1 <= index <= len(fc_dims) for index in indices):
            raise ValueError(f"aggregate_after_fc={list(aggregate_after_fc)} must index the {len(fc_dims)} FC layers")
        self.aggregators = nn.ModuleDict(
            {f"fc{index}": SelsaAggregator(fc_dims[index - 1], num_attention_blocks) for index in sorted(set(indices))}
        )

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["num_attention_blocks"] = cfg.MODEL.SELSA.NUM_ATTENTION_BLOCKS
        ret["aggregate_after_fc"] = list(cfg.MODEL.SELSA.AGGREGATE_AFTER_FC)
        ret["aggregate_references"] = cfg.MODEL.SELSA.AGGREGATE_REFERENCES
        return ret

    def _layers(self):
        """The head's (name, layer) pairs, in order, without the aggregators (this
        ``nn.Sequential`` also holds them, so its own forward must not be used)."""
        return [(name, layer) for name, layer in self.named_children() if name != "aggregators"]

    def reference_features(self, ref_x: torch.Tensor, refs_per_image: List[int]) -> List[torch.Tensor]:
        """The support proposals' features where each aggregator reads them.

        Args:
            ref_x: ``[M, C, h, w]`` pooled features of all images' support proposals.
            refs_per_image: how many rows of ``ref_x`` each target image owns.

        Returns:
            one ``[M, C_k]`` tensor per aggregator, in FC order (:meth:`set_references` of
            ``ref_x`` as one frame's :meth:`frame_references`).
        """
        return self.set_references([self.frame_references(ref_x)], refs_per_image)

    def frame_references(self, ref_x: torch.Tensor) -> List[torch.Tensor]:
        """What the references of one support frame's proposals are alone.

        Args:
            ref_x: ``[m, C, h, w]`` pooled features of the frame's proposals.

        Returns:
            per aggregator, in FC order, the ``[m, C_k]`` features it reads; with
            ``aggregate_references`` only the first one's (the later ones depend on all the
            frames of a support set, see :meth:`set_references`). They depend on the frame's
            proposals only, so a caller may keep them for every target frame it supports.
        """
        layers = self._layers()
        aggregated = self._aggregated_layers(layers)
        references = []
        for name, layer in layers[: (aggregated[0] if self.aggregate_references else aggregated[-1]) + 1]:
            ref_x = layer(ref_x)
            if name in self.aggregators:
                references.append(ref_x)
        return references

    def project_references(self, references: List[torch.Tensor]) -> List[SelsaReferenceProjections]:
        """Per aggregator, its :meth:`SelsaAggregator.project` of the references it reads
        (:meth:`frame_references` of a frame without ``aggregate_references``): what attending
        over them needs, made once for every target frame they serve. :meth:`set_references`
        and :meth:`forward` take them in place of the features."""
        if self.aggregate_references:
            raise ValueError("with aggregate_references, the later aggregators' references depend on the support set")
        return [aggregator.project(refs) for aggregator, refs in zip(self.aggregators.values(), references)]

    def set_references(self, frame_references: List[List[References]], refs_per_image: List[int]) -> List[References]:
        """The references of a support set from its frames' :meth:`frame_references`.

        Args:
            frame_references: per support frame (of all images, in order), its
                :meth:`frame_references`, or without ``aggregate_references`` their
                :meth:`project_references`; at least one.
            refs_per_image: how many of their rows each target image owns.

        Returns:
            one ``[M, C_k]`` tensor per aggregator, in FC order.
        """
        references = [concatenate(level) for level in zip(*frame_references)]
        if not self.aggregate_references:
            return references
        layers = self._layers()
        aggregated = self._aggregated_layers(layers)
        ref_x = references[0]
        for index in range(aggregated[0], aggregated[-1] + 1):
            name, layer = layers[index]
            if index > aggregated[0]:
                ref_x = layer(ref_x)
                if name in self.aggregators:
                    references.append(ref_x)
            if name in self.aggregators and index != aggregated[-1]:
                ref_x = aggregate_per_image(self.aggregators[name], ref_x, ref_x, refs_per_image, refs_per_image)
        return references

    def _aggregated_layers(self, layers) -> List[int]:
        """Positions in ``layers`` (:meth:`_layers`) of the FCs followed by an aggregator."""
        return [index for index, (name, _) in enumerate(layers) if name in self.aggregators]

    def forward(
        self,
        x: torch.Tensor,
        references: Optional[List[References]] = None,
        rois_per_image: Optional[List[int]] = None,
        refs_per_image: Optional[List[int]] = None,
    ):
        """
        Args:
            x: ``[N, C, h, w]`` pooled features of the target proposals.
            references: :meth:`set_references` of the support proposals (features or
                projections), or None: those of :attr:`frame_group`, if any, else no
                aggregation.
            rois_per_image, refs_per_image: rows of ``x`` / of each reference per image.

        Returns:
            ``[N, fc_dims[-1]]`` box features.
        """
        scoped = self.frame_group.references if self.frame_group is not None else None
        if references is None and scoped is not None:
            if scoped.rois_per_image is None or sum(scoped.rois_per_image) != len(x):
                raise ValueError(
                    f"the frame group's SELSA references are for RoIs per image {scoped.rois_per_image}, "
                    f"the box head got {len(x)} RoIs"
                )
            references, rois_per_image, refs_per_image = scoped.features, scoped.rois_per_image, scoped.refs_per_image
        reference = iter(references or ())
        for name, layer in self._layers():
            x = layer(x)
            if references is not None and name in self.aggregators:
                x = aggregate_per_image(self.aggregators[name], x, next(reference), rois_per_image, refs_per_image)
        return x
