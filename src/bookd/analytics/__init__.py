"""Analytics: the report read from the counters the changes keep, its CSV, and rebuilding them."""
