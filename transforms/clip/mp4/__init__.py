"""MP4/MOV boxes and sample tables: the header tier's reading of the container index."""
