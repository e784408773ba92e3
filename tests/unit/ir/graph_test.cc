#include <gtest/gtest.h>

#include "edgeq/error.h"
#include "edgeq/ir/graph.h"

namespace edgeq {
namespace {

// x -> Relu -> r -> Add(r, b) -> y
struct Small {
  Graph g;
  Value *x, *r, *b, *y;
  Node *relu, *add;
  Small() {
    x = g.add_value("x");
    g.add_input(x);
    std::vector<float> bias{1.f};
    b = g.add_initializer("b", Tensor::from_values<float>(DType::kFloat, {1}, bias));
    r = g.add_value("r");
    y = g.add_value("y");
    relu = g.add_node("Relu", "", {x}, {r});
    add = g.add_node("Add", "", {r, b}, {y});
    g.add_output(y);
  }
};

TEST(Graph, ProducersAndUsesAreTracked) {
  Small s;
  EXPECT_EQ(s.r->producer(), s.relu);
  ASSERT_EQ(s.r->uses().size(), 1u);
  EXPECT_EQ(s.r->uses()[0].node, s.add);
  EXPECT_EQ(s.r->uses()[0].input_index, 0);
  EXPECT_EQ(s.b->uses()[0].input_index, 1);
  EXPECT_EQ(s.x->producer(), nullptr);
}

TEST(Graph, InsertBetweenAndReplaceUses) {
  Small s;
  // Put a Sigmoid between Relu and Add: r -> Sigmoid -> t, and Add now reads t.
  Value* t = s.g.add_value(s.g.unique_name("r"));
  EXPECT_EQ(t->name(), "r_1");
  s.r->replace_all_uses_with(t);
  Node* sig = s.g.insert_after(s.relu, "Sigmoid", "", {s.r}, {t});
  EXPECT_EQ(s.g.index_of(sig), 1u);
  EXPECT_EQ(s.add->input(0), t);
  ASSERT_EQ(s.r->uses().size(), 1u);
  EXPECT_EQ(s.r->uses()[0].node, sig);
}

TEST(Graph, ReplaceUsesRedirectsGraphOutputs) {
  Small s;
  Value* z = s.g.add_value("z");
  s.g.add_node("Identity", "", {s.y}, {z});
  s.y->replace_all_uses_with(z);  // y was a graph output
  EXPECT_EQ(s.g.outputs()[0], z);
}

TEST(Graph, RemoveNodeRequiresUnusedOutputs) {
  Small s;
  EXPECT_THROW(s.g.remove_node(s.relu), Error);  // r still read by Add
  s.add->set_input(0, s.x);
  s.g.remove_node(s.relu);
  EXPECT_EQ(s.g.nodes().size(), 1u);
  EXPECT_TRUE(s.x->uses().size() == 1u && s.x->uses()[0].node == s.add);
  s.g.remove_unused_values();
  EXPECT_EQ(s.g.find_value("r"), nullptr);
  EXPECT_NE(s.g.find_value("b"), nullptr);
}

TEST(Graph, SubgraphSeesOuterScope) {
  Small s;
  Value* cond = s.g.add_value("cond");
  s.g.add_input(cond);
  Value* out = s.g.add_value("if_out");
  Node* if_node = s.g.add_node("If", "", {cond}, {out});
  Attribute then_branch;
  then_branch.name = "then_branch";
  then_branch.type = AttrType::kGraph;
  then_branch.graphs.push_back(std::make_unique<Graph>(if_node));
  Graph* body = then_branch.graphs[0].get();
  if_node->attributes().push_back(std::move(then_branch));
  EXPECT_EQ(body->parent(), &s.g);
  EXPECT_EQ(body->lookup("y"), s.y);
  EXPECT_EQ(body->find_value("y"), nullptr);
  Value* inner = body->add_value(body->unique_name("y"));
  EXPECT_EQ(inner->name(), "y_1");
  Node* n = body->add_node("Neg", "", {s.y}, {inner});
  // The outer value lists the inner node among its consumers.
  bool found = false;
  for (const Use& u : s.y->uses()) found = found || u.node == n;
  EXPECT_TRUE(found);
  EXPECT_EQ(if_node->subgraphs().size(), 1u);
}

TEST(Model, OpsetLookupTreatsAiOnnxAsDefault) {
  Model m;
  m.opset_imports = {{"ai.onnx", 13}, {"com.microsoft", 1}};
  EXPECT_EQ(m.opset(""), 13);
  EXPECT_EQ(m.opset("com.microsoft"), 1);
  EXPECT_FALSE(m.opset("ai.onnx.ml").has_value());
}

}  // namespace
}  // namespace edgeq
