"""What only training needs: data preparation helpers that the shipped codec never imports."""
