"""hiermovie: hierarchical self-supervised movie understanding.

Stage 1 (`hiermovie.extract`) turns videos into one feature per event window, written once into an
HDF5 cache (`hiermovie.cache`). Stage 2 (`hiermovie.contextualize`, `hiermovie.tasks`) trains the
transformer contextualizer and the task heads from that cache alone.
"""

__version__ = "0.1.0"
