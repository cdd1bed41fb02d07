// Fuzz target: decode_image on JPEGs only (libjpeg-turbo behind vae's checks and conversions); see image.cpp.
#define VAE_FUZZ_JPEG true
#include "image.cpp"
