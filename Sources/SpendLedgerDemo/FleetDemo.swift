// The simulated day of an agent fleet that `spend demo` drives through the in-process API.
