"""Reading tables and writing results (NetCDF, files written atomically)."""
