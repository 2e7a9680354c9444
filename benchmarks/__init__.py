"""Side-by-side benchmarks: each module measures one path of the service against a baseline."""
