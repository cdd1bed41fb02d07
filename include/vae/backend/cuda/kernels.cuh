// Every cuda kernel header at once: include this (from a .cu file) to run any op with backend cuda.
#pragma once
#include "vae/backend/cuda.hpp"
#include "vae/backend/cuda/activations.cuh"
#include "vae/backend/cuda/adam.cuh"
#include "vae/backend/cuda/linear.cuh"
#include "vae/backend/cuda/rng.cuh"
#include "vae/backend/cuda/transfer.cuh"
