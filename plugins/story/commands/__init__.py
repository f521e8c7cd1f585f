"""The story plugin's commands, in groups: lifecycle, play, steering."""
