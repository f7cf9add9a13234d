"""Hand-written raw rows and helpers for the dbt tests: a throwaway warehouse file per module."""
