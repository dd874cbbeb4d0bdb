// PNG and JPEG images (stb_image behind vision::load_image).
#include "fuzz/fuzz_input.h"
#include "vision/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const auto path = qs::fuzz::input_file(data, size, "image.png");
  qs::fuzz::refused_cleanly([&] { qs::vision::load_image(path); });
  return 0;
}
