"""Demo dataset: real Zhangzhou county boundaries with modelled townships, grids and staff."""
