"""Sites as data: the site attribute table (`read_site_table`) and a synthetic site network
built from one real site's drivers (`synthetic_network`)."""
from .network import Network, synthetic_network
from .table import SiteTable, read_site_table

__all__ = ["Network", "SiteTable", "read_site_table", "synthetic_network"]
