"""lmpspot: LAMMPS on AWS spot capacity without losing work."""

__version__ = "0.1.0"
