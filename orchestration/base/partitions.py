"""Review-year partitions.

Dynamic, so that a new year folder in ``data/raw`` becomes a partition without a code change: the
raw-files sensor (and ``poverty-warehouse run``) register every year found on disk.
"""

from dagster import DynamicPartitionsDefinition

review_year_partitions = DynamicPartitionsDefinition(name="review_year")
