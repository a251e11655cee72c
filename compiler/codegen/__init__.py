"""Code generation: names, fused loops, and the module assembled from templates."""
