"""dicodec.codec"""
