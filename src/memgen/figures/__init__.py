"""Paper figures: one module per figure family (tables in, matplotlib Figure out; saving is memgen.io.save_figure)."""
