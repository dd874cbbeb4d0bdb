// Quantize on load, measured: a LLaMA-shaped Hugging Face checkpoint of random
// f16 weights (written here, block by block, into a scratch folder - nothing
// is downloaded or committed) is loaded three ways, each in a fresh process
// so its peak resident memory is its own:
//   minmax4   streamed into packed 4-bit min-max layers, group 64
//   nf4       streamed into NF4 layers, block 64 (QLoRA's base)
//   f32       the whole model in f32, then nothing else (the baseline; only
//             for shapes whose f32 model fits in memory)
// Per way: peak RSS, the loaded model's weight bytes, and the wall time.
//
//   ./qslaw bench load-quantized [--shape 7b|1b|tiny] [--dir PATH] [--ways minmax4,nf4,f32]
//
// The 7b shape is LLaMA-2-7B's (13.5 GB in f16; about 4 GB loaded at 4 bits);
// the checkpoint is reused when the folder already holds one of that shape.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/cpu/host_allocator.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"
#include "interop/quantized_llama.h"
#include "quant/footprint.h"

namespace {

namespace e = qs::engine;
namespace fs = std::filesystem;

struct Shape {
  const char* name;
  int64_t dim, layers, heads, kv_heads, ffn, vocab;
};
const Shape kShapes[] = {{"7b", 4096, 32, 32, 32, 11008, 32000},
                         {"1b", 2048, 22, 32, 4, 5632, 32000},  // TinyLlama-1.1B's
                         {"tiny", 256, 2, 4, 2, 688, 1024}};

double gb(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

std::string config_json(const Shape& s) {
  return fmt::format(
      R"({{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": {}, "intermediate_size": {},
 "num_hidden_layers": {}, "num_attention_heads": {}, "num_key_value_heads": {}, "vocab_size": {},
 "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 4096, "tie_word_embeddings": false,
 "torch_dtype": "float16", "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2}})",
      s.dim, s.ffn, s.layers, s.heads, s.kv_heads, s.vocab);
}

// Writes the checkpoint unless `dir` already holds one of this shape.
void ensure_checkpoint(const Shape& s, const fs::path& dir) {
  const std::string config = config_json(s);
  if (fs::exists(dir / "config.json") && fs::exists(dir / "model.safetensors.index.json")) {
    std::ifstream in(dir / "config.json");
    const std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (have == config) return;
  }
  fs::create_directories(dir);
  const int64_t hd = s.dim / s.heads;
  std::vector<e::TensorHeader> headers = {{"model.embed_tokens.weight", e::DType::f16, {s.vocab, s.dim}},
                                          {"model.norm.weight", e::DType::f16, {s.dim}},
                                          {"lm_head.weight", e::DType::f16, {s.vocab, s.dim}}};
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    for (auto [n, shape] : std::vector<std::pair<const char*, e::Shape>>{
             {"input_layernorm.weight", {s.dim}},
             {"post_attention_layernorm.weight", {s.dim}},
             {"self_attn.q_proj.weight", {s.heads * hd, s.dim}},
             {"self_attn.k_proj.weight", {s.kv_heads * hd, s.dim}},
             {"self_attn.v_proj.weight", {s.kv_heads * hd, s.dim}},
             {"self_attn.o_proj.weight", {s.dim, s.heads * hd}},
             {"mlp.gate_proj.weight", {s.ffn, s.dim}},
             {"mlp.up_proj.weight", {s.ffn, s.dim}},
             {"mlp.down_proj.weight", {s.dim, s.ffn}}}) {
      headers.push_back({p + n, e::DType::f16, shape});
    }
  }
  std::printf("writing a random-weight %s checkpoint (f16) to %s ...\n", s.name, dir.c_str());
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t seed = 0;
  e::save_safetensors_checkpoint(
      dir, headers,
      [&](const e::TensorHeader& h) {
        e::Generator gen(++seed);
        if (h.shape.size() == 1) return e::ones(h.shape).to(e::DType::f16);
        return e::randn(h.shape, gen, e::DType::f32, 0.0, 0.02).to(e::DType::f16);
      },
      uint64_t{2} << 30);
  std::ofstream(dir / "config.json", std::ios::trunc) << config;
  std::printf("  written in %.0f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

// The child: load one way, print "weight-bytes seconds peak-tensor-bytes" on stdout.
int load_one(const fs::path& dir, const std::string& way) {
  const auto t0 = std::chrono::steady_clock::now();
  qs::interop::LoadedLlama m;
  if (way == "f32") {
    m = qs::interop::load_hf_llama(dir);
  } else {
    qs::interop::QuantizeOnLoad q;
    if (way == "nf4") q.kind = qs::interop::QuantizeOnLoad::Kind::nf4;
    m = qs::interop::load_hf_llama_quantized(dir, q);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%lld %.3f %lld\n", static_cast<long long>(qs::quant::weight_footprint(*m.model).total_bytes), s,
              static_cast<long long>(qs::engine::cpu::host_cache_stats().peak_live_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape_name = "7b", ways = "minmax4,nf4,f32";
  fs::path dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--load-one" && i + 2 < argc) {
      try {
        return load_one(argv[i + 1], argv[i + 2]);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "%s\n", ex.what());
        return 1;
      }
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: bench_load-quantized [--shape 7b|1b|tiny] [--dir PATH] [--ways minmax4,nf4,f32]\n");
      return 2;
    }
    if (a == "--shape") shape_name = argv[++i];
    else if (a == "--dir") dir = argv[++i];
    else if (a == "--ways") ways = argv[++i];
    else {
      std::fprintf(stderr, "bench_load-quantized: unknown option '%s'\n", a.c_str());
      return 2;
    }
  }
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes) {
    if (shape_name == s.name) shape = &s;
  }
  if (!shape) {
    std::fprintf(stderr, "bench_load-quantized: --shape must be 7b, 1b or tiny, got '%s'\n", shape_name.c_str());
    return 2;
  }
  if (dir.empty()) dir = fs::temp_directory_path() / fmt::format("qslaw_llama_{}", shape->name);
  try {
    ensure_checkpoint(*shape, dir);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "bench_load-quantized: %s\n", ex.what());
    return 1;
  }
  uint64_t file_bytes = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ".safetensors") file_bytes += fs::file_size(f.path());
  }
  const double f32_gb = gb(2.0 * static_cast<double>(file_bytes));
  std::printf("\n%s-shaped LLaMA, checkpoint %.2f GB (f16); f32 model %.2f GB; machine memory %.1f GB\n\n",
              shape->name, gb(static_cast<double>(file_bytes)), f32_gb,
              gb(static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE))));
  std::printf("| load | peak RSS GB | peak tensors GB | model weights GB | peak - weights GB | seconds |\n"
              "| --- | ---: | ---: | ---: | ---: | ---: |\n");
  std::string rest = ways;
  while (!rest.empty()) {
    const std::string way = rest.substr(0, rest.find(','));
    rest = rest.find(',') == std::string::npos ? "" : rest.substr(rest.find(',') + 1);
    if (way == "f32" && f32_gb > 0.8 * gb(static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE))) {
      std::printf("| f32 | - | - | %.2f | - | does not fit in memory |\n", f32_gb);
      continue;
    }
    int out[2];
    if (pipe(out) != 0) return 1;
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      execl("/proc/self/exe", argv[0], "--load-one", dir.c_str(), way.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    char buf[256] = {};
    const ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    int status = 0;
    struct rusage usage {};
    wait4(pid, &status, 0, &usage);
    long long bytes = 0, tensors = 0;
    double seconds = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0 ||
        std::sscanf(buf, "%lld %lf %lld", &bytes, &seconds, &tensors) != 3) {
      std::printf("| %s | failed (status %d) | | | | |\n", way.c_str(), status);
      continue;
    }
    const double peak = static_cast<double>(usage.ru_maxrss) * 1024.0;  // kB on Linux
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", way.c_str(), gb(peak), gb(static_cast<double>(tensors)),
                gb(static_cast<double>(bytes)), gb(peak - static_cast<double>(bytes)), seconds);
    std::fflush(stdout);
  }
  return 0;
}
