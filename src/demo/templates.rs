//! The WhatsApp templates the demo school has approved at Meta: one for each
//! built-in CS flow, and the invitation its campaign sends. Their `{{n}}`
//! parameters follow the variables the built-in rules fill, in order.

use serde_json::{Value, json};

/// The template the demo's campaign sends.
pub const CAMPAIGN_TEMPLATE: &str = "convite_aula_ao_vivo";

/// `(name, category, body)`, in pt_BR.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "boas_vindas",
        "UTILITY",
        "Olá {{1}}! Que alegria ter você em {{2}} 🎉 Seu acesso já está liberado: {{3}}",
    ),
    (
        "resgate_acesso",
        "UTILITY",
        "Oi {{1}}, vimos que você ainda não entrou em {{2}}. Está tudo certo com o acesso? É só clicar: {{3}}",
    ),
    (
        "retomada_estudos",
        "MARKETING",
        "{{1}}, sentimos sua falta em {{2}}! Você parou no módulo {{3}} com {{4}} % concluído. Bora continuar?",
    ),
    (
        "conquista_modulo",
        "UTILITY",
        "Parabéns, {{1}}! Você concluiu o módulo {{2}} de {{3}} 🏆 Continue assim!",
    ),
    (
        "recuperacao_pagamento",
        "UTILITY",
        "Oi {{1}}, seu pagamento de {{2}} ainda está em aberto. Se precisar, o link é este: {{3}}",
    ),
    (
        "carrinho_abandonado",
        "MARKETING",
        "{{1}}, você deixou {{2}} no carrinho. Posso te ajudar com alguma dúvida?",
    ),
    (
        "risco_reembolso",
        "UTILITY",
        "Oi {{1}}, tudo bem com {{2}}? Você está com {{3}} % do curso. Quer ajuda para aproveitar melhor?",
    ),
    (
        "reconquista",
        "MARKETING",
        "{{1}}, que pena ver você sair de {{2}}. Tem uma condição especial para você voltar quando quiser.",
    ),
    (
        CAMPAIGN_TEMPLATE,
        "MARKETING",
        "Oi {{1}}! Quinta-feira às 20h tem aula ao vivo de bolos de festa, só para alunos. Te espero lá!",
    ),
];

/// The templates as Graph's `message_templates` listing returns them.
pub fn listing() -> Vec<Value> {
    TEMPLATES
        .iter()
        .enumerate()
        .map(|(index, (name, category, body))| {
            json!({
                "id": format!("90000000000{index:02}"),
                "name": name,
                "status": "APPROVED",
                "category": category,
                "language": "pt_BR",
                "parameter_format": "POSITIONAL",
                "components": [{"type": "BODY", "text": body}]
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_built_in_flow_has_its_template_with_as_many_parameters() {
        for builtin in entity::automation::BUILTINS {
            let (_, _, body) = TEMPLATES
                .iter()
                .find(|(name, _, _)| *name == builtin.template)
                .unwrap_or_else(|| panic!("no template {}", builtin.template));
            let parameters = (1..=9)
                .filter(|n| body.contains(&format!("{{{{{n}}}}}")))
                .count();
            assert_eq!(parameters, builtin.variables.len(), "{}", builtin.template);
        }
    }
}
