// Every op of engine/op_table.h through the harness's cases on the CPU:
// f32 against f64 or a composed twin, strided views against contiguous
// inputs, gradients, and coverage of the table itself.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "harness/op_cases.h"
#include "support.h"

using namespace qs::test;
namespace e = qs::engine;
namespace ag = qs::autograd;
namespace table = qs::engine::op_table;

namespace {

std::vector<ag::Var> leaves(const Tensors& xs) {
  std::vector<ag::Var> v;
  for (const Tensor& x : xs) v.emplace_back(x, e::is_floating(x.dtype()));
  return v;
}

}  // namespace

TEST_CASE("all ops: every case matches its reference, on strided views too, with checked gradients") {
  for (const OpCase& c : op_cases()) {
    INFO("case: ", c.label);
    for (DType dt : c.dtypes) {
      INFO("dtype ", std::string(e::dtype_name(dt)));
      e::Generator gen(42);
      const Tensors in = c.inputs(gen, dt, 1);
      const Tensors out = c.run(in, e::Device::cpu());
      // f32 is held to a twin or to the op's own f64 kernel; f64 to the twin.
      if (c.twin) {
        check_outputs(out, c.twin(with_dtype(in, DType::f64)), dt == DType::f64 ? 1e-9 : c.tol);
      } else if (dt != DType::f64 && c.f64_reference) {
        check_outputs(out, c.run(with_dtype(in, DType::f64), e::Device::cpu()), c.tol);
      }
      if (c.property) c.property(in, out);
      // Other layouts may change the order of sums (the GEMM packs them differently).
      if (c.strided) check_outputs(c.run(strided_views(in), e::Device::cpu()), out, dt == DType::f64 ? 1e-12 : 1e-6);
    }
    if (c.grad) {
      e::Generator gen(43);
      const Tensors in = with_dtype(c.inputs(gen, c.grad_dtype, 1), c.grad_dtype);
      if (c.grad_twin) {
        // Both functions' gradients of sum(f * r) for a fixed random r.
        auto grads = [&](const VarFn& f) {
          std::vector<ag::Var> v = leaves(in);
          e::Generator rg(7);
          ag::Var y = f(v);
          ag::sum(y * ag::Var(e::randn(y.shape(), rg, y.data().dtype()))).backward();
          Tensors g;
          for (auto& x : v) g.push_back(x.requires_grad() ? x.grad() : Tensor());
          return g;
        };
        const Tensors got = grads(c.grad), want = grads(c.grad_twin);
        for (std::size_t i = 0; i < got.size(); ++i) {
          if (want[i].defined()) QS_CHECK_CLOSE(got[i], want[i], c.grad_dtype == DType::f64 ? 1e-9 : 1e-5);
        }
      } else {
        const ag::GradcheckResult r = ag::gradcheck(c.grad, in);
        INFO(r.message);
        CHECK(r.ok);
      }
    }
  }
}

TEST_CASE("all ops: every row of the op table has a case, and every gradient is checked") {
  std::map<std::string, std::set<std::string>> covered;  // op -> "values", "grad"
  std::set<std::string> unary, binary, reduce;
  for (const OpCase& c : op_cases()) {
    const std::string name = e::op_name(c.op);
    covered[name].insert("values");
    if (c.grad) covered[name].insert("grad");
    if (c.op == e::Op::unary) unary.insert(c.label.substr(6));
    if (c.op == e::Op::binary) binary.insert(c.label.substr(7));
    if (c.op == e::Op::reduce) reduce.insert(c.label.substr(7, c.label.find(' ', 7) - 7));
  }
  for (std::size_t i = 0; i < std::size(table::op_names); ++i) {
    const std::string name = table::op_names[i], gradient = table::gradients[i];
    INFO("op ", name, " (gradient: ", gradient, ")");
    if (gradient == "grad") {
      CHECK(covered[name].count("grad"));
    } else if (gradient == "none") {
      CHECK(covered[name].count("values"));
    } else {  // a backward kernel: its forward's gradient check runs it
      CHECK(covered[gradient].count("grad"));
    }
  }
  for (const char* k : table::unary_names) CHECK_MESSAGE(unary.count(k), "unary ", k);
  for (const char* k : table::binary_names) CHECK_MESSAGE(binary.count(k), "binary ", k);
  for (const char* k : table::reduce_names) CHECK_MESSAGE(reduce.count(k), "reduce ", k);
}

TEST_CASE("all ops: each op's family has its files on both backends") {
  namespace fs = std::filesystem;
  const fs::path root(QSLAW_SOURCE_DIR);
  for (std::size_t i = 0; i < std::size(table::op_names); ++i) {
    const std::string family = table::families[i];
    INFO("op ", table::op_names[i], " in family ", family);
    CHECK(fs::exists(root / "engine" / ("ops_" + family + ".cpp")));
    CHECK(fs::exists(root / "engine/cpu" / (family + ".cpp")));
    CHECK(fs::exists(root / "engine/cuda" / (family + ".cu")));
    if (std::string(table::gradients[i]) == "grad") CHECK(fs::exists(root / "autograd" / (family + ".cpp")));
  }
}
