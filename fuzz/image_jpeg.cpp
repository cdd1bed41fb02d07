// Fuzz target: decode_image on JPEGs only (stb_image 2.27's JPEG decoder behind vae's checks); see image.cpp.
#define VAE_FUZZ_JPEG true
#include "image.cpp"
