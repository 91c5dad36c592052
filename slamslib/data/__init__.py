"""Datasets: the embedded synthetic benchmark, PASCAL VOC 2012 (+SBD), MS COCO 2014."""
from .datasets import build_dataset, checked_split, class_names_for, prepare_data
from .voc import SegmentationFolder

__all__ = ["build_dataset", "checked_split", "class_names_for", "prepare_data", "SegmentationFolder"]
