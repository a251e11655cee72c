"""Tests of the Parquet sink and of Parquet input to the replay."""
