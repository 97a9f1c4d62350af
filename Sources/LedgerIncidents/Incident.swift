// The incident review: a minute-by-minute story of what one agent (or run) did and cost.
