"""The Beam transforms: the only package importing apache_beam at module level."""
