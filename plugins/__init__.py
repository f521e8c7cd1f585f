"""Built-in storyloom plugins: story, poem and headline."""
