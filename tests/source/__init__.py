"""The asana_dlt source's tests: requests, paging, incremental, mirror rounds, exports, the catalog."""
