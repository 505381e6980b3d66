"""Pictures and plots a person wants to look at."""
