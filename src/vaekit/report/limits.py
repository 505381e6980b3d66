"""How large a picture gets: the caps every command's --help states (plain Python, no torch,
so the help can name them without importing the image code)."""

# The most images one PNG grid holds: 32 x 32 cells of at least 56 pixels, a picture of about
# 1,900 pixels square (more for larger images). A command asked for more shows the first ones
# and keeps all of them in its .npy; see each command's --help.
MAX_GRID_IMAGES = 1024
# The most images in one row of a grid: longer strips wrap.
MAX_GRID_COLUMNS = 32

# Decodes per input for `uncertainty`'s spread: its standard error falls as 1/sqrt(samples),
# so 10,000 (1% of the spread) is more than enough; 100 million ran for hours unseen.
MAX_SPREAD_SAMPLES = 10_000
