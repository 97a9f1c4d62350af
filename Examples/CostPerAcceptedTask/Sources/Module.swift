// Replaced as the example is written.
