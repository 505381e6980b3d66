"""How large a picture gets: the caps every command's --help states (plain Python, no torch,
so the help can name them without importing the image code)."""

# The most images one PNG grid holds: 32 x 32 cells of at least 56 pixels, a picture of about
# 1,900 pixels square (more for larger images). A command asked for more shows the first ones
# and keeps all of them in its .npy; see each command's --help.
MAX_GRID_IMAGES = 1024
# The most images in one row of a grid: longer strips wrap.
MAX_GRID_COLUMNS = 32
