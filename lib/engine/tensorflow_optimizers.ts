/**
 * Adam, RMSprop and SGD with momentum as TensorFlow's fused training ops (`ResourceApply*`, as
 * Keras uses), where tfjs's optimizers run a dozen element-wise ops per weight. The ops work on
 * resource variables, so each weight has a TensorFlow twin: the new value is read back after an
 * update, and a tfjs variable changed elsewhere is written to its twin before the next one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type NodeBackend, nodeBackend, type OpAttr } from "./node_backend.ts";

/** A named tensor, as tfjs's optimizers' `getWeights` lists their state. */
type NamedTensor = { name: string; tensor: tf.Tensor };

let instances = 0;

/** One weight's TensorFlow variable and its optimizer slots. */
interface Slots {
  weight: tf.Tensor;
  state: tf.Tensor[];
  /** The tfjs value last written to or read from the twin. */
  dataId: unknown;
}

abstract class FusedOptimizer extends tf.Optimizer {
  readonly #prefix = `cifar100_ts_optimizer_${++instances}`;
  readonly #slots = new Map<string, Slots>();
  /** Slot values from {@linkcode setWeights}, per weight in update order, for slots not made yet. */
  #restored: tf.Tensor[][] = [];
  /** Constant scalars (learning rate, decay rates, epsilon), made once. */
  protected readonly constants: tf.Scalar[];

  /** @param stateSlots how many state slots each weight has */
  constructor(constants: number[], protected readonly stateSlots: number) {
    super();
    this.constants = constants.map((c) => tf.keep(tf.scalar(c)));
  }

  /** Scalars that depend on step `t`, made once per step for every weight's update. */
  protected stepScalars(_t: number): tf.Scalar[] {
    return [];
  }

  /**
   * The op, its inputs after the slots' variables (`step`'s scalars or the constants, then
   * `grad`), and any attributes it takes besides `T` and `use_locking`.
   */
  protected abstract update(
    step: tf.Scalar[],
    grad: tf.Tensor,
  ): { op: string; inputs: tf.Tensor[]; attrs?: OpAttr[] };

  override applyGradients(
    gradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[],
  ): void {
    const b = nodeBackend();
    const list = Array.isArray(gradients)
      ? gradients.map(({ name, tensor }) => [name, tensor] as const)
      : Object.entries(gradients);
    const step = this.stepScalars(this.iterations + 1);
    const base = [
      { name: "T", type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT },
      { name: "use_locking", type: b.binding.TF_ATTR_BOOL, value: false },
    ];
    try {
      for (const [name, grad] of list) {
        if (grad == null) continue;
        const variable = tf.engine().registeredVariables[name];
        const slots = this.#slotsFor(b, name, variable);
        if (slots.dataId !== variable.dataId) assign(b, slots.weight, variable);
        // While the tfjs variable shares the TensorFlow variable's buffer, the update would copy
        // it first (copy-on-write); pointing the tfjs variable at the gradient meanwhile lets
        // the update happen in place.
        variable.assign(grad);
        const { op, inputs, attrs: extra = [] } = this.update(step, grad);
        b.executeMultipleOutputs(op, [...base, ...extra], [
          slots.weight,
          ...slots.state,
          ...inputs,
        ], 0);
        const value = b.executeSingleOutput("ReadVariableOp", [dtype(b)], [slots.weight]);
        variable.assign(value);
        value.dispose();
        slots.dataId = variable.dataId;
      }
    } finally {
      tf.dispose(step);
    }
    this.incrementIterations();
  }

  #slotsFor(b: NodeBackend, name: string, variable: tf.Variable): Slots {
    let slots = this.#slots.get(name);
    if (!slots) {
      const handle = (slot: string) =>
        b.executeSingleOutput("VarHandleOp", [
          { name: "container", type: b.binding.TF_ATTR_STRING, value: "" },
          {
            name: "shared_name",
            type: b.binding.TF_ATTR_STRING,
            value: `${this.#prefix}/${name}/${slot}`,
          },
          dtype(b),
          { name: "shape", type: b.binding.TF_ATTR_SHAPE, value: variable.shape },
        ], []);
      const weight = tf.keep(handle("weight"));
      const state = Array.from({ length: this.stateSlots }, (_, i) => tf.keep(handle(`${i}`)));
      const restored = this.#restored[this.#slots.size];
      state.forEach((slot, i) => {
        const value = restored?.[i] ?? tf.zerosLike(variable);
        assign(b, slot, value);
        value.dispose();
      });
      slots = { weight, state, dataId: undefined };
      this.#slots.set(name, slots);
    }
    return slots;
  }

  /**
   * The step count, then each weight's slots in the order the weights were first updated, for
   * a checkpoint; restored by position, since variable names differ between processes.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const b = nodeBackend();
    const slots: NamedTensor[] = [];
    for (const [name, { state }] of this.#slots) {
      state.forEach((handle, i) => {
        const tensor = b.executeSingleOutput("ReadVariableOp", [dtype(b)], [handle]);
        slots.push({ name: `${name}/${i}`, tensor });
      });
    }
    return [await this.saveIterations(), ...slots];
  }

  /** Restore what {@linkcode getWeights} returned, before the first update (tensors are copied). */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    if (this.#slots.size) throw new Error("setWeights: restore before the first update");
    const slots = await this.extractIterations(weightValues);
    const per = this.stateSlots;
    if (slots.length % per) throw new Error(`setWeights: ${slots.length} slots, not ${per} each`);
    tf.dispose(this.#restored.flat());
    this.#restored = [];
    for (let k = 0; k < slots.length; k += per) {
      this.#restored.push(slots.slice(k, k + per).map(({ tensor }) => tf.keep(tensor.clone())));
    }
  }

  override dispose(): void {
    const b = nodeBackend();
    tf.dispose(this.#restored.flat());
    this.#restored = [];
    for (const { weight, state } of this.#slots.values()) {
      for (const handle of [weight, ...state]) {
        b.executeMultipleOutputs(
          "DestroyResourceOp",
          [
            { name: "ignore_lookup_error", type: b.binding.TF_ATTR_BOOL, value: true },
          ],
          [handle],
          0,
        );
      }
      tf.dispose([weight, ...state]);
    }
    this.#slots.clear();
    tf.dispose(this.constants);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

function dtype(b: NodeBackend) {
  return { name: "dtype", type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT };
}

function assign(b: NodeBackend, handle: tf.Tensor, value: tf.Tensor): void {
  b.executeMultipleOutputs("AssignVariableOp", [dtype(b)], [handle, value], 0);
}

/** Adam as `ResourceApplyAdam`, its settings named as Keras names them. */
export class FusedAdam extends FusedOptimizer {
  static get className(): string {
    return "Adam";
  }
  readonly #betas: number[];
  constructor(settings: { learningRate: number; beta1: number; beta2: number; epsilon: number }) {
    const { learningRate, beta1, beta2, epsilon } = settings;
    super([learningRate, beta1, beta2, epsilon], 2);
    this.#betas = [beta1, beta2];
  }
  /** beta1^t and beta2^t. */
  protected override stepScalars(t: number): tf.Scalar[] {
    const [b1, b2] = this.#betas;
    return [tf.scalar(b1 ** t), tf.scalar(b2 ** t)];
  }
  protected update(powers: tf.Scalar[], grad: tf.Tensor) {
    const [lr, beta1, beta2, epsilon] = this.constants;
    return { op: "ResourceApplyAdam", inputs: [...powers, lr, beta1, beta2, epsilon, grad] };
  }
}

/** RMSprop as `ResourceApplyRMSProp`. */
export class FusedRmsprop extends FusedOptimizer {
  static get className(): string {
    return "RMSProp";
  }
  constructor(settings: { learningRate: number; rho: number; momentum: number; epsilon: number }) {
    const { learningRate, rho, momentum, epsilon } = settings;
    super([learningRate, rho, momentum, epsilon], 2);
  }
  protected update(_step: tf.Scalar[], grad: tf.Tensor) {
    return { op: "ResourceApplyRMSProp", inputs: [...this.constants, grad] };
  }
}

/** SGD with (optionally Nesterov) momentum as `ResourceApplyMomentum`, its learning rate settable. */
export class FusedMomentum extends FusedOptimizer {
  static get className(): string {
    return "Momentum";
  }
  readonly #nesterov: boolean;
  constructor(settings: { learningRate: number; momentum: number; nesterov: boolean }) {
    super([settings.momentum, settings.learningRate], 1);
    this.#nesterov = settings.nesterov;
  }
  /** Use `learningRate` from the next update on (a schedule calls this before every step). */
  setLearningRate(learningRate: number): void {
    // The constants array is the base class's to dispose; swap the scalar in place.
    this.constants[1].dispose();
    this.constants[1] = tf.keep(tf.scalar(learningRate));
  }
  protected update(_step: tf.Scalar[], grad: tf.Tensor) {
    const b = nodeBackend();
    const [momentum, lr] = this.constants;
    return {
      op: "ResourceApplyMomentum",
      inputs: [lr, grad, momentum],
      attrs: [{ name: "use_nesterov", type: b.binding.TF_ATTR_BOOL, value: this.#nesterov }],
    };
  }
}
